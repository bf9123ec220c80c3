"""Request ids and the one log line per request.

Written here rather than taken from django-guid or django-log-request-id: both trust an incoming
X-Request-ID from anyone (a client could then forge ids into our logs, or inject text), and neither
writes the access line we want; the whole job is the thirty lines below.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import sentry_sdk
from django.conf import settings

from . import log_context
from .client_address import is_trusted_proxy

log = logging.getLogger("monolink.request")

HEADER = "X-Request-ID"
# What we accept from a trusted proxy: nginx's $request_id (32 hex), UUIDs, most platforms' ids.
# Anything else (spaces, a trailing newline, quotes, over 64 characters) is replaced, never logged.
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
# Probes and scrapes every few seconds would drown the log: their lines go out at DEBUG.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def request_id_for(request) -> str:
    offered = request.headers.get(HEADER, "")
    if offered and _VALID_ID.fullmatch(offered) and is_trusted_proxy(request.META.get("REMOTE_ADDR")):
        return offered
    return uuid.uuid4().hex


def loggable_path(request) -> str:
    """The path for the log line: a route that captures text (a password-reset token, a signed
    session) is logged as its pattern, "/accounts/reset/<uidb64>/<token>/", never as sent."""
    match = getattr(request, "resolver_match", None)
    if match is not None and any(not isinstance(value, int) for value in (*match.args, *match.kwargs.values())):
        return "/" + match.route
    return request.path


class RequestLogMiddleware:
    """First in MIDDLEWARE: sees the raw peer address, and wraps everything else in the id."""

    def __init__(self, get_response):
        self.get_response = get_response
        # whitenoise's files get no line each (STATIC_URL may be relative: "static/").
        self.static_prefix = "/" + settings.STATIC_URL.lstrip("/") if "://" not in settings.STATIC_URL else None

    def __call__(self, request):
        request_id = request_id_for(request)
        request.request_id = request_id
        started = time.perf_counter()
        with log_context.scope(request_id=request_id):
            sentry_sdk.set_tag("request_id", request_id)  # the same id in Sentry (no-op without a DSN)
            response = self.get_response(request)
            response[HEADER] = request_id
            path = loggable_path(request)
            if not (self.static_prefix and path.startswith(self.static_prefix)):
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
                log.log(
                    level,
                    "%s %s %s %sms",
                    request.method,
                    path,
                    response.status_code,
                    duration_ms,
                    extra={"method": request.method, "path": path, "status": response.status_code, "ms": duration_ms},
                )
        return response
