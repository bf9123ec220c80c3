"""Sending the re-auth email through a provider (django-anymail): what it says in both parts, the
provider's message id kept for its tracking events, which failures the mail queue retries. The
provider's HTTP API is mocked with `responses`, as Mono's is.
"""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
import requests
import responses
from django.core import mail

from accounts.models import Notification
from notifications import email
from notifications import tasks as notification_tasks
from reauth import state

from .test_settings_and_models import _check

POSTMARK_API = "https://api.postmarkapp.com/email"
TOKEN = "pm-server-token-never-shown"


@pytest.fixture
def flagged(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        state.flag_for_reauth(mono_account_id=account.mono_account_id)
    return account


@pytest.fixture
def postmark(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": TOKEN}
    with responses.RequestsMock() as mocked:
        yield mocked


def words(text: str) -> list[str]:
    return text.split()


def test_the_html_part_says_the_same_words_as_the_plain_text(flagged):
    assert email.send_due_email(mono_account_id=flagged.mono_account_id, step=0) == "sent"

    message = mail.outbox[0]
    (body, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    inside = re.search(r"<body[^>]*>(.*)</body>", body, re.DOTALL).group(1)
    visible = html.unescape(re.sub(r"<[^>]+>", " ", inside))
    assert words(visible) == words(message.body)
    assert 'href="http://127.0.0.1:8000/reconnect/"' in body  # SITE_URL's, never a Mono URL
    assert "GTBank account ******0001" in message.body
    for secret in ("test-webhook-secret", "test-email-webhook-secret", "reauth_token", "mono-sec-key"):
        assert secret not in message.body and secret not in body


def test_the_providers_message_id_is_kept_on_the_email(flagged, postmark):
    postmark.post(
        POSTMARK_API,
        json={
            "To": "ada@example.com",
            "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
            "ErrorCode": 0,
            "Message": "OK",
        },
    )

    assert email.send_due_email(mono_account_id=flagged.mono_account_id, step=0) == "sent"

    assert Notification.objects.get().message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    sent = postmark.calls[0].request
    assert sent.headers["X-Postmark-Server-Token"] == TOKEN
    posted = sent.body.decode() if isinstance(sent.body, bytes) else sent.body
    assert "HtmlBody" in posted and "TextBody" in posted


def test_by_smtp_the_message_id_header_is_kept_instead(flagged):
    email.send_due_email(mono_account_id=flagged.mono_account_id, step=0)

    assert Notification.objects.get().message_id == mail.outbox[0].extra_headers["Message-ID"]


def retry_decision(exc: BaseException):
    job = SimpleNamespace(attempts=0, task_name="accounts.tasks.send_reauth_email", id=1)
    return notification_tasks.send_reauth_email.retry_strategy.get_retry_decision(exception=exc, job=job)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "json": {"ErrorCode": 0, "Message": "Internal server error"}},
        {"status": 503, "body": "Service Unavailable"},
        {"status": 429, "json": {"ErrorCode": 429, "Message": "Rate limit exceeded"}},
        {"body": requests.ConnectionError("connection reset")},
        {"body": requests.Timeout("read timed out")},
    ],
    ids=["500", "503", "429", "connection-error", "timeout"],
)
def test_a_provider_outage_is_retried_by_the_mail_queue_and_nothing_is_recorded(flagged, postmark, answer):
    postmark.post(POSTMARK_API, **answer)

    with pytest.raises(email.ProviderUnavailable) as raised:
        email.send_due_email(mono_account_id=flagged.mono_account_id, step=0)

    assert retry_decision(raised.value) is not None
    assert not Notification.objects.exists()  # the retry sends it, and records it then
    assert TOKEN not in str(raised.value) and "ada@example.com" not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            401,
            {
                "ErrorCode": 10,
                "Message": "The Server Token you provided in the X-Postmark-Server-Token header was invalid.",
            },
        ),
        (
            422,
            {"ErrorCode": 400, "Message": "The 'From' address you supplied is not a Sender Signature on your account."},
        ),
    ],
)
def test_a_refused_request_is_not_retried_and_says_what_to_check(flagged, postmark, status, body):
    postmark.post(POSTMARK_API, status=status, json=body)

    with pytest.raises(email.ProviderRefusedMessage, match="check its key and sender") as raised:
        email.send_due_email(mono_account_id=flagged.mono_account_id, step=0)

    assert not isinstance(raised.value, OSError)  # OSErrors are retried (SMTP's)
    assert retry_decision(raised.value) is None
    assert TOKEN not in str(raised.value)


def test_an_amazon_ses_throttle_is_retried_and_a_rejection_is_not():
    from anymail.exceptions import AnymailAPIError

    throttled = AnymailAPIError("Throttling", response={"ResponseMetadata": {"HTTPStatusCode": 429}})
    rejected = AnymailAPIError("MessageRejected", response={"ResponseMetadata": {"HTTPStatusCode": 400}})

    assert email._transient(throttled) and not email._transient(rejected)


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "s" * 50,
    "MONO_WEBHOOK_SECRET": "w" * 30,
    "MONO_SECRET_KEY": "test_sk_x",
    "MONO_PUBLIC_KEY": "test_pk_x",
}


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({**PRODUCTION, "EMAIL_PROVIDER": "postmark", "EMAIL_WEBHOOK_SECRET": "e" * 30}, "needs POSTMARK_SERVER_TOKEN"),
        (
            {**PRODUCTION, "EMAIL_PROVIDER": "mailgun", "EMAIL_WEBHOOK_SECRET": "e" * 30, "MAILGUN_API_KEY": "k"},
            "needs MAILGUN_WEBHOOK_SIGNING_KEY",
        ),
        (
            {**PRODUCTION, "EMAIL_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": "t", "EMAIL_WEBHOOK_SECRET": ""},
            "EMAIL_WEBHOOK_SECRET must be set",
        ),
        ({"DEBUG": "true", "EMAIL_PROVIDER": "mandrill"}, "EMAIL_PROVIDER must be one of amazon_ses, postmark"),
        ({"DEBUG": "true", "EMAIL_PROVIDER": "postmark", "EMAIL_URL": "smtp://mail.example:25"}, "not both"),
    ],
    ids=["postmark-without-token", "mailgun-without-signing-key", "no-webhook-secret", "unknown", "smtp-and-provider"],
)
def test_a_provider_without_its_keys_stops_the_app_naming_what_is_missing(env, error):
    result = _check(env)

    assert result.returncode != 0
    assert error in result.stderr


def test_a_configured_provider_starts(tmp_path):
    result = _check(
        {**PRODUCTION, "EMAIL_PROVIDER": "amazon_ses", "EMAIL_WEBHOOK_SECRET": "e" * 30, "AWS_REGION": "eu-west-1"}
    )

    assert "ImproperlyConfigured" not in result.stderr, result.stderr


def test_the_providers_keys_and_the_webhook_secret_are_redacted_from_log_lines(settings):
    import io
    import logging

    from monolink.logs import REDACTED, JsonFormatter, RedactSecretsFilter

    settings.EMAIL_WEBHOOK_SECRET = "email-webhook-secret-0123"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "MAILGUN_WEBHOOK_SIGNING_KEY": "mg-signing-0123",
    }
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.email_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("provider said %s / %s / %s", TOKEN, "email-webhook-secret-0123", "mg-signing-0123")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    assert stream.getvalue().count(REDACTED) == 3
    assert TOKEN not in stream.getvalue()


def test_a_short_webhook_secret_is_refused_in_production(settings):
    from monolink.checks import email_webhook_secret_length_check

    settings.EMAIL_WEBHOOK_SECRET = "short-secret"
    assert [e.id for e in email_webhook_secret_length_check(None)] == ["monolink.E004"]
    settings.EMAIL_WEBHOOK_SECRET = "a-long-enough-secret-0123"
    assert email_webhook_secret_length_check(None) == []


def test_a_sandbox_demo_site_without_a_provider_needs_no_email_webhook_secret():
    # Nothing to track without a provider: the sandbox's endpoint for mail_event stays unmounted.
    result = _check(
        {
            "DEBUG": "false",
            "SECRET_KEY": "s" * 50,
            "MONO_WEBHOOK_SECRET": "w" * 30,
            "MONO_SANDBOX": "true",
            "TASKS_ALLOW_IN_PROCESS": "true",
            "EMAIL_WEBHOOK_SECRET": "",
        }
    )

    assert result.returncode == 0, result.stderr
