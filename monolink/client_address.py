"""Who the client is: the one rule for every place that counts or records a client address.

Used by the sign-in lockout (django-axes' AXES_CLIENT_IP_CALLABLE), the password-reset throttle, the
webhook delivery log, request ids (is the peer our proxy?), /metrics' allow-list and the
X-Forwarded-* gate (monolink.security.ForwardedHeadersMiddleware). Hand-written because
django-ipware trusts headers by what the X-Forwarded-For chain contains, not by which peer sent them.

The rule (docs/security.md):

1. The TCP peer (REMOTE_ADDR) is the only address nobody can forge. Unless it is a trusted proxy
   (FORWARDED_ALLOW_IPS), it is the client and X-Forwarded-For is ignored.
2. Each proxy appends the address it saw to X-Forwarded-For; anything left of that was written by
   the client. So the chain is read from the right:
   - FORWARDED_ALLOW_IPS lists addresses or networks: skip hops that are trusted proxies; the
     right-most hop that is not one is the client. When every hop is trusted, the left-most is the
     client (someone inside a trusted network, as the outermost proxy saw them): it is never
     skipped away to the proxy's own address, which would make everyone behind it one client.
   - FORWARDED_ALLOW_IPS is "*" (only the platform's proxy can reach gunicorn): no address tells a
     proxy from a client, so position does: the client is FORWARDED_PROXY_HOPS hops from the right.
3. A hop that is not an address (garbage, "unknown") ends the walk: the last good hop is the client.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=32)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*")


def parse(value: str | None) -> Address | None:
    """An address from REMOTE_ADDR or an X-Forwarded-For hop, without a port or an IPv6 zone id
    ("1.2.3.4:5678", "[2001:db8::1]:443", "fe80::1%eth0"); None for anything else."""
    candidate = (value or "").strip()
    if candidate.startswith("["):  # [IPv6]:port
        candidate = candidate[1:].split("]", 1)[0]
    elif candidate.count(":") == 1:  # IPv4:port (a bare IPv6 address has several colons)
        candidate = candidate.split(":", 1)[0]
    try:
        return ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None


def address_in(address: str | Address | None, entries: list[str]) -> bool:
    """Is the address in one of the entries (addresses or networks), or is "*" among them?"""
    if "*" in entries:
        return True
    parsed = address if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address) else parse(address)
    return parsed is not None and any(parsed in network for network in _networks(tuple(entries)))


def is_trusted_proxy(address: str | Address | None) -> bool:
    return address_in(address, settings.FORWARDED_ALLOW_IPS)


def client_address(meta) -> Address | None:
    """The client's address from a request's META, by the rule above; None when nothing says (a
    unix socket without a trusted proxy in front: its peer has no address)."""
    peer = parse(meta.get("REMOTE_ADDR"))
    if not is_trusted_proxy(peer):  # with "*", a proxy on a unix socket (no peer address) is trusted too
        return peer
    hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    by_position = "*" in settings.FORWARDED_ALLOW_IPS
    client = peer
    for seen, hop in enumerate(reversed(hops), start=1):
        address = parse(hop)
        if address is None:
            break
        client = address
        if by_position and seen == settings.FORWARDED_PROXY_HOPS:
            break
        if not by_position and not is_trusted_proxy(address):
            break
    return client


def client_ip(request) -> str | None:
    """The client's address as text: django-axes' AXES_CLIENT_IP_CALLABLE and every other caller."""
    address = client_address(request.META)
    return str(address) if address is not None else None
