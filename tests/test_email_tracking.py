"""The email provider's tracking webhook: each documented provider's own payloads (Amazon SES through
SNS, Postmark, Mailgun, SendGrid; tests/payloads/email/) posted to anymail's real views, CSRF
enforced. An event is recorded once, moves its email's status, and a hard bounce or complaint marks
the user; a forged, unauthenticated or unreadable call records nothing and never answers 500.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import DeliveryStatus, EmailEvent, Notification, User

from .email_support import MAILGUN_SIGNING_KEY, MESSAGE_IDS, PROVIDERS, SECRET, basic_auth, payload, post_event

pytestmark = [pytest.mark.urls("tests.email_tracking_urls"), pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(autouse=True)
def provider_keys(settings):
    # Mailgun's view checks every call's signature with this key (MAILGUN_WEBHOOK_SIGNING_KEY).
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY}


@pytest.fixture
def sent(account):
    """Ada's first re-auth email, as each provider's message id recorded it."""

    def make(provider: str) -> Notification:
        return Notification.objects.create(
            account=account,
            flagged_at=timezone.now(),
            step=0,
            sent_at=timezone.now(),
            message_id=MESSAGE_IDS[provider],
        )

    return make


def nothing_recorded(user: User, notification: Notification | None = None) -> bool:
    user.refresh_from_db()
    unchanged = notification is None or Notification.objects.get(pk=notification.pk).delivery_status == "sent"
    return not EmailEvent.objects.exists() and user.email_reachable and unchanged


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("kind", "status", "unreachable"),
    [
        ("delivered", DeliveryStatus.DELIVERED, False),
        ("bounced", DeliveryStatus.BOUNCED, True),
        ("soft_bounced", DeliveryStatus.DEFERRED, False),  # temporary: the provider tries again
        ("complained", DeliveryStatus.COMPLAINED, True),
    ],
)
def test_each_providers_event_is_recorded_on_its_email_and_only_a_hard_bounce_or_complaint_marks_the_user(
    provider, kind, status, unreachable, sent, user
):
    notification = sent(provider)

    response = post_event(provider, kind)

    assert response.status_code == 200, response.content
    notification.refresh_from_db()
    assert notification.delivery_status == status
    assert notification.delivery_status_at is not None
    event = EmailEvent.objects.get()
    assert (event.notification_id, event.recipient, event.status) == (notification.pk, "ada@example.com", status)
    user.refresh_from_db()
    assert (not user.email_reachable) == unreachable
    if unreachable:
        assert user.email_undeliverable_reason.startswith(("Hard bounce", "Marked our email as spam"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_replayed_event_is_recorded_once(provider, sent, user):
    notification = sent(provider)

    first, again = post_event(provider, "bounced"), post_event(provider, "bounced")

    assert (first.status_code, again.status_code) == (200, 200)
    assert EmailEvent.objects.count() == 1
    assert EmailEvent.objects.get().notification == notification


def test_postmark_deliveries_have_no_event_id_and_are_deduplicated_by_their_content(sent):
    sent("postmark")

    post_event("postmark", "delivered")
    post_event("postmark", "delivered")

    assert EmailEvent.objects.get().event_id.startswith("sha256:")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "auth",
    [
        "",  # none at all
        basic_auth("not-the-secret"),
        basic_auth(SECRET, user="someone"),
    ],
    ids=["no-auth", "wrong-password", "wrong-user"],
)
def test_an_unauthenticated_call_is_refused_and_records_nothing(provider, auth, sent, user):
    notification = sent(provider)

    response = post_event(provider, "bounced", auth=auth)

    # 401 is SES's own challenge (SNS only sends credentials after one); the rest say 403.
    assert response.status_code == (401 if provider == "amazon_ses" and not auth else 403)
    assert nothing_recorded(user, notification)


def test_a_mailgun_event_with_the_right_password_but_a_forged_signature_is_refused(sent, user):
    notification = sent("mailgun")

    response = post_event("mailgun", "bounced", sign=False)  # the file's signature: not made with our key

    assert response.status_code == 403
    assert b"Not authenticated" in response.content
    assert nothing_recorded(user, notification)


def test_a_refused_call_never_logs_the_offered_secret(sent, caplog):
    sent("postmark")
    offered = "a-guess-at-the-secret-0123"

    with caplog.at_level(logging.DEBUG):
        response = post_event("postmark", "bounced", auth=basic_auth(offered))

    assert response.status_code == 403
    assert offered not in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("postmark", b"not json"),
        ("postmark", b"[1, 2]"),
        ("postmark", b"\xff\xfe"),
        ("mailgun", b"{}"),
        ("sendgrid", b'{"event": "bounce"}'),  # an object where SendGrid sends a list
        ("sendgrid", b"[{}]"),
        ("amazon_ses", b"not json"),
        ("amazon_ses", {"Type": "Notification", "MessageId": "x", "Message": "not json either"}),
        ("amazon_ses", {"Type": "Telegram", "MessageId": "x"}),
    ],
)
def test_an_unreadable_body_is_a_400_that_says_so_and_records_nothing(provider, body, sent, user):
    notification = sent(provider)

    response = post_event(provider, body=body)

    assert 400 <= response.status_code < 500, response.content
    assert nothing_recorded(user, notification)


def test_an_unreadable_body_reads_as_a_sentence(sent):
    response = post_event("postmark", body=b"not json")

    assert response.status_code == 400
    assert response.content.decode() == "This is not a Postmark tracking event. Nothing was recorded.\n"


def test_a_late_delivery_does_not_hide_a_bounce(sent):
    notification = sent("postmark")

    post_event("postmark", "bounced")
    post_event("postmark", "delivered")  # arrives after, about the same message

    notification.refresh_from_db()
    assert notification.delivery_status == DeliveryStatus.BOUNCED
    assert EmailEvent.objects.count() == 2  # both kept for staff


def test_a_bounce_for_an_address_the_user_has_since_changed_marks_no_one(sent, user):
    sent("sendgrid")
    User.objects.filter(pk=user.pk).update(email="ada.new@example.com")

    post_event("sendgrid", "bounced")

    user.refresh_from_db()
    assert user.email_reachable
    assert Notification.objects.get().delivery_status == DeliveryStatus.BOUNCED  # the email itself did bounce


def test_an_event_about_an_email_we_did_not_record_still_marks_the_address(user):
    # A bounced password-reset email says the same about the address as a re-auth email would.
    response = post_event("amazon_ses", "bounced")

    assert response.status_code == 200
    assert EmailEvent.objects.get().notification is None
    user.refresh_from_db()
    assert not user.email_reachable


def test_the_site_mounts_only_its_providers_endpoint(settings, user):
    # The real URL map: in the sandbox without a provider, Postmark's format (for mail_event).
    client = Client(enforce_csrf_checks=True)
    settings.ROOT_URLCONF = "monolink.urls"

    assert client.post("/anymail/sendgrid/tracking/", data=b"[]", content_type="application/json").status_code == 404
    response = client.post(
        "/anymail/postmark/tracking/",
        data=json.dumps(payload("postmark", "bounced")),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert not user.email_reachable


def test_an_event_costs_a_handful_of_statements_new_or_replayed(sent, django_assert_num_queries):
    sent("postmark")
    # In the test's transaction BEGIN/COMMIT read as SAVEPOINT/RELEASE: find the email, savepoint,
    # INSERT, release, UPDATE its status (a bounce adds the user's mark).
    with django_assert_num_queries(7):
        post_event("postmark", "delivered")
    with django_assert_num_queries(8):
        post_event("postmark", "bounced")
    with django_assert_num_queries(7):  # a replay: the INSERT refused, rolled back to its savepoint
        post_event("postmark", "bounced")
