"""monolink.wsgi: Mono's webhook is served without the page middleware; every other path keeps all of it.

Driven through the real WSGI application (the test Client has a handler of its own), with spies on
the middleware that must or must not run.
"""

import asyncio
import importlib
import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string
from procrastinate.contrib.django.models import ProcrastinateJob

from webhooks.models import WebhookEvent

from .webhooks_support import URL, raw

PAGE_ONLY = {
    "session": ("django.contrib.sessions.middleware.SessionMiddleware", "process_request"),
    "auth": ("django.contrib.auth.middleware.AuthenticationMiddleware", "process_request"),
    "second factor": ("django_otp.middleware.OTPMiddleware", "__call__"),
    "lockout": ("axes.middleware.AxesMiddleware", "__call__"),
    "csp": ("csp.middleware.CSPMiddleware", "process_response"),
}


@pytest.fixture
def application(ran):
    """monolink.wsgi's application, built afresh after the spies are in place: the live server of
    the browser tests may have built it already, under other settings."""
    import monolink.wsgi

    return importlib.reload(monolink.wsgi).application


@pytest.fixture
def ran(monkeypatch):
    """Which page-only middleware ran, by name: spies on the classes settings.MIDDLEWARE names."""
    calls: list[str] = []
    for name, (path, method) in PAGE_ONLY.items():
        cls = import_string(path)
        assert path in settings.MIDDLEWARE and path not in settings.MACHINE_ROUTE_MIDDLEWARE
        original = getattr(cls, method)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, spy)
    return calls


def call(application, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()},
    }
    setup_testing_defaults(environ)
    started: dict = {}

    def start_response(status, response_headers, exc_info=None):
        started.update(status=int(status.split()[0]), headers=dict(response_headers))

    response_body = b"".join(application(environ, start_response))
    return started["status"], started["headers"], response_body


@pytest.mark.django_db(transaction=True)
def test_a_webhook_runs_no_session_auth_second_factor_lockout_or_csp_middleware(application, ran, payload_account):
    assert reverse("webhooks:mono") == URL
    secret = {"mono-webhook-secret": settings.MONO_WEBHOOK_SECRET}
    status, headers, body = call(application, "POST", URL, raw("reauthorisation_required.v2"), secret)

    assert (status, json.loads(body)["detail"]) == (200, "Processed: applied.")
    assert ran == []
    assert "Content-Security-Policy" not in headers and "Set-Cookie" not in headers
    assert "X-Request-ID" in headers  # the middleware every route keeps still ran
    assert WebhookEvent.objects.get().status == "processed"
    payload_account.refresh_from_db()
    assert payload_account.reauth_required


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_flag_logs_one_info_line_with_its_job_and_request_ids(
    application, payload_account, procrastinate_backend, caplog
):
    with caplog.at_level(logging.DEBUG):
        status, headers, _body = call(
            application,
            "POST",
            URL,
            raw("reauthorisation_required.v2"),
            {"mono-webhook-secret": settings.MONO_WEBHOOK_SECRET},
        )

    assert status == 200
    job = ProcrastinateJob.objects.get().id
    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.name for r in info] == ["webhooks.pipeline"], [r.getMessage() for r in info]
    assert info[0].request_id == headers["X-Request-ID"] and f" job={job}: " in info[0].getMessage()
    assert any(r.name == "monolink.request" and r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.django_db
def test_a_refused_webhook_keeps_its_access_line_at_info(application, ran, caplog):
    with caplog.at_level(logging.INFO):
        status, _headers, _body = call(application, "POST", URL, b"{}", {"mono-webhook-secret": "wrong"})

    assert status == 401 and ran == []
    assert [r.getMessage().split()[:3] for r in caplog.records if r.name == "monolink.request"] == [
        ["POST", URL, "401"]
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/webhooks/mono", "/"])
def test_every_other_path_keeps_every_middleware(application, ran, path):
    status, headers, _body = call(application, "GET", path)

    assert set(ran) == set(PAGE_ONLY), (path, status)
    if path == "/webhooks/mono":  # not the machine route: CommonMiddleware answers with the slash
        assert (status, headers["Location"]) == (301, URL)
    else:
        assert "Content-Security-Policy" in headers and headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_the_sign_in_page_still_gets_its_session_csrf_cookie_and_csp(application, ran):
    status, headers, body = call(application, "GET", "/accounts/login/")

    assert status == 200 and b"<form" in body
    assert "default-src" in headers["Content-Security-Policy"]
    assert "csrftoken" in headers.get("Set-Cookie", "")
    assert set(ran) == set(PAGE_ONLY)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_dead_connection_costs_one_webhook_a_500_and_mono_retry_lands(
    application, payload_account, persistent_connection, maintenance_db
):
    """The webhook route skips Django's per-request `SELECT 1` (NoConnectionHealthCheck): a persistent
    connection the database dropped fails that delivery with a 500 (nothing acknowledged, nothing
    stored), Django closes it, and Mono's retry lands on a fresh one. Pages keep the check."""
    from django.db import connection

    secret = {"mono-webhook-secret": settings.MONO_WEBHOOK_SECRET}
    body = raw("reauthorisation_required.v2")

    def drop_the_connection():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            maintenance_db.execute("SELECT pg_terminate_backend(%s)", [cursor.fetchone()[0]])

    drop_the_connection()
    assert call(application, "POST", URL, body, secret)[0] == 500
    assert not WebhookEvent.objects.exists()

    assert call(application, "POST", URL, body, secret)[0] == 200  # Mono's retry
    assert WebhookEvent.objects.get().status == "processed"

    drop_the_connection()
    assert call(application, "GET", "/accounts/login/")[0] == 200  # the page's health check reconnects


@pytest.mark.django_db(transaction=True)
def test_the_asgi_application_serves_the_webhook_without_the_page_middleware_too(ran, payload_account):
    import monolink.asgi

    application = importlib.reload(monolink.asgi).application
    secret = settings.MONO_WEBHOOK_SECRET

    status, _ = in_own_loop(asgi_call(application, "POST", URL, raw("reauthorisation_required.v2"), secret))
    assert (status, ran) == (200, [])
    payload_account.refresh_from_db()
    assert payload_account.reauth_required

    status, headers = in_own_loop(asgi_call(application, "GET", "/accounts/login/"))
    # The pages' chain ran (axes' middleware may take its async entry, which the spy does not see).
    assert status == 200 and {"session", "auth", "csp"} <= set(ran) and b"Content-Security-Policy" in headers


def in_own_loop(coroutine):
    """Run it as an ASGI server would, in a thread with its own event loop: the browser tests leave
    one running in this thread."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result(timeout=60)


async def asgi_call(application, method: str, path: str, body: bytes = b"", secret: str = ""):
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    headers += [(b"content-length", str(len(body)).encode())] + (
        [(b"mono-webhook-secret", secret.encode())] if secret else []
    )
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": headers}
    scope |= {
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "asgi": {"version": "3.0"},
    }
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected; Django stops listening when done

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"])
