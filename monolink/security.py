"""Request-level hardening that no library here does for us: which proxy to believe, what a
signed-in page may leave in caches, what Django's debug page may show, who may read the SQLite file.

gunicorn already trusts X-Forwarded-Proto only from FORWARDED_ALLOW_IPS, but Django reads the raw
headers itself (SECURE_PROXY_SSL_HEADER, django-axes' client IP), so the same rule is applied here
once, before anything reads them. Hand-written because the maintained options answer another
question: django-ipware trusts headers by what the X-Forwarded-For chain contains, not by which peer
sent them, and Django has no notion of a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.views.debug import SafeExceptionReporterFilter

FORWARDED_PREFIX = "HTTP_X_FORWARDED_"


def _is_trusted_proxy(address: str) -> bool:
    """Is this peer one of FORWARDED_ALLOW_IPS (addresses or networks; "*" trusts every peer)?"""
    trusted = settings.FORWARDED_ALLOW_IPS
    if "*" in trusted:
        return True
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if peer in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


class ForwardedHeadersMiddleware:
    """Drop every X-Forwarded-* header unless the peer is a trusted proxy.

    First in MIDDLEWARE: after it, SECURE_PROXY_SSL_HEADER (is the request HTTPS?) and client_ip()
    can only see what our own proxy said, never what a client sent straight to the app server.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            for key in [k for k in request.META if k.startswith(FORWARDED_PREFIX)]:
                del request.META[key]
        return self.get_response(request)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the hop our trusted proxy appended to X-Forwarded-For, else the peer.

    The right-most entries are the ones our proxies wrote; anything left of them came from the
    client and can be forged (so it is never used: a forged address would dodge the sign-in lockout).
    Used by django-axes (AXES_CLIENT_IP_CALLABLE); the header only survives ForwardedHeadersMiddleware
    when the peer is a trusted proxy.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not peer or not forwarded or not _is_trusted_proxy(peer):
        return peer
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: fall back to the one address nobody can forge
        if not _is_trusted_proxy(hop):
            return hop
    return peer


class SignedInNoStoreMiddleware:
    """Every page answered to a signed-in user is `Cache-Control: private, no-store` (balances,
    account numbers and re-auth state must not stay in a shared or back-button cache)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)  # max-age=0, no-cache, no-store, must-revalidate, private
        return response


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding every *_URL and DSN setting or environment variable on the debug
    page and in error reports: DATABASE_URL and EMAIL_URL carry passwords."""

    hidden_settings = re.compile(SafeExceptionReporterFilter.hidden_settings.pattern + "|URL|DSN", flags=re.I)


def restrict_sqlite_file(sender, connection, **kwargs) -> None:
    """connection_created: make the SQLite database (and its WAL files) readable by its owner only.

    SQLite creates the file with the process umask (usually world-readable) and gives its -wal and
    -shm files the database file's mode; the file holds every user's password hash and account.
    """
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    for path in (name, f"{name}-wal", f"{name}-shm"):
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            continue
