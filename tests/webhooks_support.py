"""Shared helpers for the webhook tests: payload files, a CSRF-enforcing client, account snapshots."""

import json
from pathlib import Path

from django.conf import settings
from django.test import Client
from django.urls import reverse

PAYLOADS = Path(__file__).parent / "payloads"
ACCOUNT_ID = "60cc8f95ba1772018c5c6b1d"  # the id inside every payload file
URL = "/webhooks/mono/"
SNAPSHOT_FIELDS = [
    "reauth_required",
    "reauth_requested_at",
    "reauth_completed_at",
    "reauth_token_fingerprint",
    "unlinked_at",
    "last_event_at",
    "details_as_of",
    "account_name",
    "balance",
    "data_status",
    "institution_name",
]


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def raw(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def csrf_client() -> Client:
    """CSRF checks on, as for a real browser: a webhook view missing its exemption fails every test."""
    return Client(enforce_csrf_checks=True)


# "default" is a sentinel for settings.MONO_WEBHOOK_SECRET, not a password.
def post(body, *, secret: str | None = "default", client: Client | None = None, **extra):  # noqa: S107
    """POST a body (dict/list → JSON, bytes/str as is) to the webhook URL with the secret header."""
    if isinstance(body, dict | list):
        body = json.dumps(body)
    headers = dict(extra.pop("headers", {}))
    if secret == "default":
        secret = settings.MONO_WEBHOOK_SECRET
    if secret is not None:
        headers["mono-webhook-secret"] = secret
    content_type = extra.pop("content_type", "application/json")
    assert reverse("webhooks:mono") == URL
    return (client or csrf_client()).post(URL, data=body, content_type=content_type, headers=headers, **extra)


def snapshot(account) -> dict:
    account.refresh_from_db()
    return {field: getattr(account, field) for field in SNAPSHOT_FIELDS}
