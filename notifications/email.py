"""The re-auth email and its reminders: which one is due, what it says, sent once and recorded.

Sent first, recorded after, with no lock held meanwhile: a worker killed between the two sends it
again on the rerun (at least once; the Message-ID is the same, so mail systems can fold the copies),
never zero times. notifications.tasks runs it in the mail queue with retries: SMTP's and network
errors, and a provider's 5xx or 429 (ProviderUnavailable); a provider refusing the address is not
retried, it marks the address (notifications.delivery). The provider's message id is recorded with
the email, so its tracking events find it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount, Notification

from . import delivery, schedule

log = logging.getLogger(__name__)


def send_due_email(*, mono_account_id: str, step: int) -> str:
    """Send email `step` about the account's current flag (0: the first, 1…: reminders), at most once.

    A step is sent only while it is the latest due one (notifications.schedule): a job that waited
    past the next reminder's time leaves it to that reminder. Returns what happened, for the job's log.
    """
    account = LinkedAccount.objects.flagged().select_related("user").filter(mono_account_id=mono_account_id).first()
    if account is None or not account.reauth_required or not account.reauth_requested_at:
        return "not_flagged"
    flagged_at = account.reauth_requested_at
    due = schedule.due_step(flagged_at, timezone.now())
    if step != due:
        return "not_due" if step > due else "superseded"
    if account.notifications.filter(flagged_at=flagged_at, step__gte=step).exists():
        return "already_sent"
    if not account.user.email:
        return "no_address"
    if not account.user.email_reachable:
        return "unreachable"  # a hard bounce or complaint: nothing more goes there until it changes
    context = {
        "account": account,
        "user": account.user,
        "url": settings.SITE_URL + reverse("web:reauth"),
        "since": flagged_at,
        "reminder": step > 0,
        "reminders_left": len(schedule.reminder_offsets()) - step,
    }
    bank = account.institution_name or "bank"
    subject = f"Reminder: reconnect your {bank} account" if step else f"Reconnect your {bank} account"
    # One Message-ID per flag and step: a resend after a kill is recognisably the same message.
    suffix = f"-r{step}" if step else ""
    header_id = f"<reauth-{account.pk}-{int(flagged_at.timestamp())}{suffix}@{urlsplit(settings.SITE_URL).hostname}>"
    text = render_to_string("accounts/email/reauth_required.txt", context)
    # The HTML part lays out the same words, paragraph by paragraph: written once, in the .txt.
    paragraphs = [block.splitlines() for block in text.strip().split("\n\n")]
    html = render_to_string(
        "accounts/email/reauth_required.html", {**context, "subject": subject, "paragraphs": paragraphs}
    )
    message = EmailMultiAlternatives(
        subject=subject, body=text, to=[account.user.email], headers={"Message-ID": header_id}
    )
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except AnymailRecipientsRefused:
        # The provider will not send to this address (suppressed after a bounce, or invalid): asking
        # again would be refused again, so the address is marked and the job ends here.
        delivery.mark_unreachable(
            address=account.user.email, reason="Refused by the email provider when sending", at=timezone.now()
        )
        log.warning("re-auth email refused by the provider account=%s step=%s", account.pk, step)
        return "refused"
    except AnymailAPIError as exc:
        # Our exceptions in place of anymail's, whose text carries the message and the provider's
        # answer; and anymail's HTTP errors are OSErrors, which the queue would retry even for a 401.
        if _transient(exc):
            raise ProviderUnavailable(_status_of(exc)) from None  # retried by the mail queue
        raise ProviderRefusedMessage(_status_of(exc)) from None  # a bad key or message: staff retry it
    record_notification(
        account_pk=account.pk,
        flagged_at=flagged_at,
        step=step,
        sent_at=timezone.now(),
        message_id=_message_id(message, header_id),
    )
    log.info("re-auth email sent account=%s step=%s", account.pk, step)
    return "sent"


class ProviderUnavailable(Exception):
    """The email provider could not take the message now (5xx, 429, no answer): try again later."""

    def __init__(self, status: int | None):
        super().__init__(f"email provider unavailable (HTTP {status})" if status else "email provider unreachable")


class ProviderRefusedMessage(Exception):
    """The provider refused the request itself (a 4xx: a wrong key, an unverified sender): not retried."""

    def __init__(self, status: int | None):
        super().__init__(f"email provider refused the message (HTTP {status}); check its key and sender")


def _status_of(exc: AnymailAPIError) -> int | None:
    """The HTTP status of a refused send: requests' response, or boto3's (Amazon SES) error dict."""
    if exc.status_code:
        return exc.status_code
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def _transient(exc: AnymailAPIError) -> bool:
    """No answer at all (a network error), throttling, or the provider's own fault."""
    status = _status_of(exc)
    return status is None or status == 429 or status >= 500


def _message_id(message: EmailMultiAlternatives, header_id: str) -> str:
    """The provider's id for the message (anymail's status), else the Message-ID header we set (SMTP)."""
    status = getattr(message, "anymail_status", None)
    provider_id = status.message_id if status is not None else None
    return str(provider_id) if isinstance(provider_id, str) and provider_id else header_id


@transaction.atomic
def record_notification(
    *, account_pk: int, flagged_at: datetime, step: int, sent_at: datetime, message_id: str = ""
) -> bool:
    """Record an email sent about a flag; False when that step was already recorded.

    Called after the SMTP conversation, never around it. The unique constraint is what keeps each
    step of each flag once, whichever worker gets here first; reauth_notified_at follows the latest
    email while the flag it was about is still the account's current flag.
    """
    try:
        with transaction.atomic():  # a savepoint: the duplicate's IntegrityError leaves ours usable
            Notification.objects.create(
                account_id=account_pk, flagged_at=flagged_at, step=step, sent_at=sent_at, message_id=message_id[:255]
            )
    except IntegrityError:
        return False
    LinkedAccount.objects.filter(pk=account_pk, reauth_required=True, reauth_requested_at=flagged_at).update(
        reauth_notified_at=sent_at
    )
    return True
