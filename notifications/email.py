"""The re-auth email and its reminders: which one is due, what it says, sent once and recorded.

Sent first, recorded after, with no lock held meanwhile: a worker killed between the two sends it
again on the rerun (at least once; the Message-ID is the same, so mail systems can fold the copies),
never zero times. notifications.tasks runs it in the mail queue with retries.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount, Notification

from . import schedule

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
    message_id = f"<reauth-{account.pk}-{int(flagged_at.timestamp())}{suffix}@{urlsplit(settings.SITE_URL).hostname}>"
    EmailMessage(
        subject=subject,
        body=render_to_string("accounts/email/reauth_required.txt", context),
        to=[account.user.email],
        headers={"Message-ID": message_id},
    ).send()
    record_notification(account_pk=account.pk, flagged_at=flagged_at, step=step, sent_at=timezone.now())
    log.info("re-auth email sent account=%s step=%s", account.pk, step)
    return "sent"


@transaction.atomic
def record_notification(*, account_pk: int, flagged_at: datetime, step: int, sent_at: datetime) -> bool:
    """Record an email sent about a flag; False when that step was already recorded.

    Called after the SMTP conversation, never around it. The unique constraint is what keeps each
    step of each flag once, whichever worker gets here first; reauth_notified_at follows the latest
    email while the flag it was about is still the account's current flag.
    """
    try:
        with transaction.atomic():  # a savepoint: the duplicate's IntegrityError leaves ours usable
            Notification.objects.create(account_id=account_pk, flagged_at=flagged_at, step=step, sent_at=sent_at)
    except IntegrityError:
        return False
    LinkedAccount.objects.filter(pk=account_pk, reauth_required=True, reauth_requested_at=flagged_at).update(
        reauth_notified_at=sent_at
    )
    return True
