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
from django.db import connections
from django.urls import reverse

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
                # A view that wrote the request's one INFO line itself (the webhook's, with its
                # delivery and job ids) sets `logged_by_view`: this line then goes out at DEBUG.
                quiet = path in _QUIET_PATHS or getattr(response, "logged_by_view", False)
                level = logging.DEBUG if quiet else logging.INFO
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


class NoConnectionHealthCheck:
    """On machine routes only: skip Django's per-request connection health check (CONN_HEALTH_CHECKS).

    The check is a `SELECT 1` round trip before a request's first query. A page needs it (a database
    restart would otherwise show one user an error page). Mono's webhook does not: a statement on a
    dead connection fails, the delivery is answered 500 with nothing acknowledged, Django drops the
    broken connection when the request ends, and Mono's retry runs on a fresh one
    (tests/test_machine_routes.py). Django has no switch per request; its own flag says "checked".
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for alias in connections:
            connections[alias].health_check_done = True
        return self.get_response(request)


class MachineRoutes:
    """The WSGI application: settings.MACHINE_ROUTES (Mono's webhook) through a second Django
    handler built with MACHINE_ROUTE_MIDDLEWARE, every other path through the full MIDDLEWARE.

    Django has no per-route middleware. Dispatching here, on the exact path, before any middleware
    runs, is the simplest robust way: each handler is Django's own (process_view, exceptions,
    rendering, ATOMIC_REQUESTS all as usual), the pages' chain is untouched, and a webhook pays
    nothing for session, auth, second-factor, lockout and CSP middleware it can never use (a
    decorator opt-out would still run every layer to check it). Anything else under the same
    path (a trailing-slash typo) goes to the full handler.
    """

    def __init__(self, pages):
        self.pages = pages
        self.machine = _handler_with(type(pages), settings.MACHINE_ROUTE_MIDDLEWARE)
        self.paths = frozenset(reverse(name) for name in settings.MACHINE_ROUTES)

    def __call__(self, environ, start_response):
        handler = self.machine if environ.get("PATH_INFO") in self.paths else self.pages
        return handler(environ, start_response)


class AsgiMachineRoutes(MachineRoutes):
    """The same dispatch for the ASGI application (monolink.asgi)."""

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "").removeprefix(scope.get("root_path", ""))
        handler = self.machine if scope["type"] == "http" and path in self.paths else self.pages
        return await handler(scope, receive, send)


def _handler_with(handler_class, middleware: list[str]):
    """A Django WSGIHandler or ASGIHandler whose chain is `middleware`. BaseHandler.load_middleware
    reads only settings.MIDDLEWARE, so it is pointed at the list for this one build, at start-up
    (monolink.wsgi and monolink.asgi are imported before any request is served), and put back."""
    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = middleware
    try:
        return handler_class()
    finally:
        settings.MIDDLEWARE = full
