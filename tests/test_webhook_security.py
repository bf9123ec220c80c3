"""Bad input and the shared secret: each row answers with its status and leaves the database as it was."""

import json
import logging

import pytest
from django.conf import settings

from webhooks.models import WebhookEvent

from .webhooks_support import ACCOUNT_ID, URL, csrf_client, post, raw, snapshot

GOOD = raw("reauthorisation_required.v1")


def _secret():
    return settings.MONO_WEBHOOK_SECRET


# (id, kwargs for post(), expected status, rows stored (their statuses))
BAD_INPUTS = [
    ("no-secret", {"body": GOOD, "secret": None}, 401, []),
    ("wrong-secret", {"body": GOOD, "secret": "not-the-secret"}, 401, []),
    ("empty-secret", {"body": GOOD, "secret": ""}, 401, []),
    ("secret-other-case", {"body": GOOD, "secret": lambda: _secret().upper()}, 401, []),
    ("secret-with-whitespace", {"body": GOOD, "secret": lambda: f" {_secret()} "}, 401, []),
    ("secret-prefix-only", {"body": GOOD, "secret": lambda: _secret()[:-1]}, 401, []),
    ("empty-body", {"body": b""}, 400, []),
    ("whitespace-body", {"body": b"  \n "}, 400, []),
    ("invalid-json", {"body": b'{"event": "mono.events.account_updated", '}, 400, []),
    ("json-array", {"body": b'[{"event": "mono.events.account_updated"}]'}, 400, []),
    ("json-string", {"body": b'"mono.events.account_updated"'}, 400, []),
    ("missing-event", {"body": {"data": {"account": {"_id": ACCOUNT_ID}}}}, 400, ["invalid"]),
    ("event-not-a-string", {"body": {"event": 7, "data": {}}}, 400, ["invalid"]),
    ("missing-data", {"body": {"event": "mono.events.reauthorisation_required"}}, 400, ["invalid"]),
    ("data-not-an-object", {"body": {"event": "mono.events.reauthorisation_required", "data": [1]}}, 400, ["invalid"]),
    (
        "missing-account-id",
        {"body": {"event": "mono.events.reauthorisation_required", "data": {"account": {"name": "x"}}}},
        400,
        ["invalid"],
    ),
    (
        "bad-timestamp",
        {"body": {"event": "mono.events.account_unlinked", "timestamp": "yesterday", "data": {"id": ACCOUNT_ID}}},
        400,
        ["invalid"],
    ),
    (
        "balance-not-a-number",
        {"body": {"event": "mono.events.account_updated", "data": {"account": {"_id": ACCOUNT_ID, "balance": "lots"}}}},
        400,
        ["invalid"],
    ),
    ("nul-in-event-name", {"body": b'{"event": "mono.\\u0000", "data": {}}'}, 400, ["invalid"]),
    ("body-over-limit", {"body": b'{"event": "x", "data": {"pad": "' + b"a" * (2 * 1024 * 1024) + b'"}}'}, 413, []),
    ("not-utf8", {"body": b'{"event": "\xff\xfe\xfa", "data": {}}'}, 400, []),
    ("unicode-junk", {"body": "\u202e\U0001f4a9\ufeff\x00{{".encode()}, 400, []),
    ("wrong-content-type", {"body": GOOD, "content_type": "text/plain"}, 415, []),
    ("form-content-type", {"body": "event=x", "content_type": "application/x-www-form-urlencoded"}, 415, []),
]


@pytest.mark.parametrize(("kwargs", "status", "stored"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_its_status_and_changes_no_account(payload_account, kwargs, status, stored):
    before = snapshot(payload_account)
    kwargs = {k: (v() if callable(v) else v) for k, v in kwargs.items()}

    response = post(**kwargs)

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]  # a message saying what is wrong
    assert list(WebhookEvent.objects.values_list("status", flat=True)) == stored
    assert snapshot(payload_account) == before


def test_get_is_405_and_stores_nothing(payload_account):
    before = snapshot(payload_account)

    response = csrf_client().get(URL, headers={"mono-webhook-secret": settings.MONO_WEBHOOK_SECRET})

    assert response.status_code == 405
    assert WebhookEvent.objects.count() == 0
    assert snapshot(payload_account) == before


def test_get_without_the_secret_is_401():
    assert csrf_client().get(URL).status_code == 401


def test_wrong_secret_is_401_logs_one_line_without_the_offered_value(db, caplog):
    offered = "guess-0123456789-abcdef"
    with caplog.at_level(logging.DEBUG):
        response = post(GOOD, secret=offered)

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid mono-webhook-secret."}
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert offered not in caplog.text
    assert settings.MONO_WEBHOOK_SECRET not in caplog.text
    assert WebhookEvent.objects.count() == 0


def test_accepted_delivery_never_stores_or_logs_the_secret(payload_account, caplog):
    secret = settings.MONO_WEBHOOK_SECRET
    with caplog.at_level(logging.DEBUG):
        response = post(
            GOOD,
            headers={"Cookie": "sessionid=abc", "Authorization": "Bearer x", "X-Request-Id": "req-1", "X-Copy": secret},
        )

    assert response.status_code == 200
    row = WebhookEvent.objects.get()
    assert row.headers["x-request-id"] == "req-1"  # the rest is kept for staff
    assert {"mono-webhook-secret", "cookie", "authorization", "x-copy"}.isdisjoint(row.headers)
    stored = json.dumps([getattr(row, f.attname) for f in row._meta.fields], default=str)
    assert secret not in stored
    assert secret not in caplog.text
    assert caplog.text  # the delivery was logged, just without the secret


def test_csrf_is_not_required_and_login_is_not_required(payload_account):
    # csrf_client enforces CSRF like a browser session would; Mono has neither a token nor a session.
    assert post(GOOD).status_code == 200


def test_view_is_outside_atomic_requests():
    from django.urls import resolve

    # With ATOMIC_REQUESTS the failure record would roll back with the request on an exception, and
    # the rules' follow-up tasks would wait for the whole request.
    assert "default" in resolve(URL).func._non_atomic_requests


# Which address is the sender's: tests/test_client_address.py (one rule for every caller).


def test_remote_ip_is_stored_on_the_row(payload_account, settings):
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1", "10.0.0.0/8"]  # the test client's peer and an inner proxy
    post(GOOD, headers={"X-Forwarded-For": "[2001:db8::7]:8443, 10.0.0.1"})

    assert WebhookEvent.objects.get().remote_ip == "2001:db8::7"
