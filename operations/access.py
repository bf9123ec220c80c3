"""Who may read /metrics and the readiness details: a bearer token, staff, or a direct allowed IP."""

from __future__ import annotations

import hmac

from monolink.client_address import address_in


def bearer_token_matches(request, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; no token configured never matches."""
    if not token:
        return False
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())


def direct_from(request, allowed: list[str]) -> bool:
    """The peer is in `allowed` (addresses or networks) and no proxy stands between.

    Behind a proxy on the same machine every request's REMOTE_ADDR is the proxy's, 127.0.0.1: the
    proxy's X-Forwarded-For header is what tells a forwarded request apart, and a client cannot
    remove the one the proxy adds. So an allow-list only admits requests that arrived without it.
    """
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    return address_in(request.META.get("REMOTE_ADDR"), allowed)
