"""Chunked webhook bodies (`Transfer-Encoding: chunked`, no Content-Length), as Mono's delivery
arrives when no buffering proxy stands in front. Django's test client never chunks, so these speak
raw HTTP to real servers, and each test names the server it proves:

- gunicorn (production) de-chunks and says so (`wsgi.input_terminated`): the body is read, up to
  WEBHOOK_MAX_BODY_BYTES, and a longer one is 413;
- Django's own server (runserver, pytest-django's live_server) hands the app no chunked body at
  all: the answer is 411 saying what to do, never "Empty body".
"""

from __future__ import annotations

import contextlib
import http.client
import json
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from webhooks.models import WebhookEvent

from . import test_production
from .test_production import HOST
from .webhooks_support import raw

# tests/test_production.py's fixtures: gunicorn started the README's way, with the production env.
gunicorn = test_production.gunicorn
production_env = test_production.production_env
production_database = test_production.production_database

LIMIT = settings.WEBHOOK_MAX_BODY_BYTES  # a fixed value, the same in the gunicorn the test starts


def post_chunked(base: str, body: bytes, *, secret: str, chunk: int = 100, **headers: str) -> tuple[int, dict]:
    """POST `body` in chunks of `chunk` bytes; http.client sends Transfer-Encoding: chunked itself."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        pieces = (body[i : i + chunk] for i in range(0, len(body), chunk))
        # A server refusing the body (411, 413) may answer and close before the last chunk is sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.request(
                "POST",
                "/webhooks/mono/",
                body=pieces,
                headers={"Content-Type": "application/json", "mono-webhook-secret": secret, **headers},
                encode_chunked=True,
            )
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.parametrize("gunicorn", [{"migrate": True}], indirect=True)
def test_gunicorn_reads_a_chunked_body_and_refuses_one_past_the_limit(production_database, production_env, gunicorn):
    base, _stop = gunicorn
    proxy = {"Host": HOST, "X-Forwarded-Proto": "https"}  # as the TLS proxy sends it
    secret = production_env["MONO_WEBHOOK_SECRET"]
    flag = raw("reauthorisation_required.v2")

    status, answer = post_chunked(base, flag, secret=secret, **proxy)
    assert status == 200, answer
    assert answer["detail"].startswith("Unmatched")  # parsed and stored; that database has no account

    payload = json.loads(flag)
    payload["padding"] = "x" * LIMIT
    status, answer = post_chunked(base, json.dumps(payload).encode(), secret=secret, chunk=64 * 1024, **proxy)
    assert status == 413, answer
    assert str(LIMIT) in answer["detail"]


def test_django_server_answers_a_chunked_body_411_with_what_to_do(live_server, transactional_db):
    status, answer = post_chunked(
        live_server.url, raw("reauthorisation_required.v2"), secret=settings.MONO_WEBHOOK_SECRET
    )

    assert status == 411, answer
    assert "Content-Length" in answer["detail"] and "buffer" in answer["detail"]
    assert not WebhookEvent.objects.exists()
