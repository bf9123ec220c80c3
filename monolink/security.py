"""Request-level hardening that no library here does for us: which proxy to believe, what a
signed-in page may leave in caches, what Django's debug page may show, who may read the SQLite file.

gunicorn already trusts X-Forwarded-Proto only from FORWARDED_ALLOW_IPS, but Django reads the raw
headers itself (SECURE_PROXY_SSL_HEADER, django-axes' client IP), so the same rule is applied here
once, before anything reads them (who the client is: monolink/client_address.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.views.debug import SafeExceptionReporterFilter

from monolink.client_address import is_trusted_proxy
from monolink.problems import problem_response

FORWARDED_PREFIX = "HTTP_X_FORWARDED_"


class ForwardedHeadersMiddleware:
    """Drop every X-Forwarded-* header unless the peer is a trusted proxy.

    Right after the request log: after it, SECURE_PROXY_SSL_HEADER (is the request HTTPS?) and
    monolink.client_address only see what our own proxy said, never what a client sent straight to
    the app server.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for key in [k for k in request.META if k.startswith(FORWARDED_PREFIX)]:
                del request.META[key]
        return self.get_response(request)


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


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None):
    """django-axes' answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE): the lockout page, or under
    /api/ a problem document an app can show (the same rule and cool-off either way)."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    if request.path.startswith("/api/"):
        detail = (
            f"Sign-in for this username is paused after {settings.AXES_FAILURE_LIMIT} wrong passwords. "
            f"Wait {minutes} minutes, then try again."
        )
        response = problem_response(429, detail, code="signin-locked")
        response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
        return response
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_timedelta": settings.AXES_COOLOFF_TIME}
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=429)
