"""Posting each provider's own tracking payloads (tests/payloads/email/) to anymail's webhook views."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

from django.test import Client

PAYLOADS = Path(__file__).parent / "payloads" / "email"
PROVIDERS = ("amazon_ses", "postmark", "mailgun", "sendgrid")
RECIPIENT = "ada@example.com"  # the address in every payload file
# The message id anymail reads from each provider's files: what our send recorded on the Notification.
MESSAGE_IDS = {
    "amazon_ses": "0100018c2a5f8e3b-7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f-000000",
    "postmark": "883953f4-6105-42a2-a16a-77a8eac79483",
    "mailgun": "<20261201095958.1.A1B2C3D4E5F60718@mg.monolink.example>",
    "sendgrid": "b3f0a1c2-8d4e-4f5a-9b6c-7d8e9f0a1b2c",
}
SECRET = "test-email-webhook-secret"  # EMAIL_WEBHOOK_SECRET in the test settings
MAILGUN_SIGNING_KEY = "key-test-mailgun-signing"


def basic_auth(password: str = SECRET, user: str = "anymail") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def payload(provider: str, kind: str):
    return json.loads((PAYLOADS / f"{provider}.{kind}.json").read_text())


def signed_mailgun(body: dict, key: str = MAILGUN_SIGNING_KEY) -> dict:
    """Mailgun signs timestamp + token with the webhook signing key (HMAC-SHA256)."""
    signature = body["signature"]
    signature["signature"] = hmac.new(
        key.encode(), f"{signature['timestamp']}{signature['token']}".encode(), hashlib.sha256
    ).hexdigest()
    return body


def post_event(provider: str, kind: str | None = None, *, body=None, auth: str | None = None, sign: bool = True):
    """POST one provider payload the way the provider does; `body` replaces the file (dict, list or bytes)."""
    client = Client(enforce_csrf_checks=True)
    data = body if body is not None else payload(provider, kind)
    if provider == "mailgun" and sign and isinstance(data, dict) and "signature" in data:
        data = signed_mailgun(data)
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {"HTTP_AUTHORIZATION": auth if auth is not None else basic_auth()}
    if not headers["HTTP_AUTHORIZATION"]:
        headers.pop("HTTP_AUTHORIZATION")
    if provider == "amazon_ses" and isinstance(data, dict):  # SNS repeats these in its headers
        headers["HTTP_X_AMZ_SNS_MESSAGE_TYPE"] = str(data.get("Type"))
        headers["HTTP_X_AMZ_SNS_MESSAGE_ID"] = str(data.get("MessageId"))
    return client.post(f"/anymail/{provider}/tracking/", data=raw, content_type="application/json", **headers)
