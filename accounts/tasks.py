"""Background work that must not hold up a web answer: Mono API calls and email (monolink.taskqueue).

`queue_*` are what callers use: inside the caller's transaction, so with Procrastinate the job
commits with the state change that asked for it (an outbox), and a rolled-back webhook queues
nothing. Every task is safe to run twice (a worker may die after the work but before the job is
marked done, and staff may retry a failed job): each re-reads the account and goes through the same
idempotent rules. Job arguments are shown in admin, so they are ids, never a token or a key. No task
holds a row lock while it talks to Mono or to the mail server.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from monolink.mono import Deadline, MonoRateLimited, MonoUnavailable
from monolink.taskqueue import QUEUE_MAIL, QUEUE_MAINTENANCE, QUEUE_MONO, Backoff, app, defer

from . import notifications, rules
from .models import LinkedAccount

log = logging.getLogger(__name__)


def queue_reauth_email(*, mono_account_id: str, step: int = 0, reconciling: bool = False) -> None:
    """Email the user about their flagged account. The lock keeps two sends for one account apart.

    The reconciler's jobs also carry a queueing lock, so however many passes run while a job waits
    (a mail server down for an hour) one job per account waits, not sixty. The webhook's job has
    none: a new flag queues once, and its path stays one INSERT without a savepoint.
    """
    defer(
        send_reauth_email,
        lock=f"mail:{mono_account_id}",
        queueing_lock=notifications.mail_queueing_lock(mono_account_id) if reconciling else None,
        mono_account_id=mono_account_id,
        step=step,
    )


def queue_refresh(*, mono_account_id: str) -> None:
    """Fetch the account from Mono soon; one waiting refresh per account is enough."""
    defer(refresh_account_details, queueing_lock=f"refresh:{mono_account_id}", mono_account_id=mono_account_id)


# Mono outages and 429s are transient; the client already retried within its deadline, so the task
# backs off for longer (2 s doubling to 15 min, ~2 h in all) before it fails for staff to see.
@app.task(queue=QUEUE_MONO, retry=Backoff(max_attempts=12, retry_exceptions=(MonoUnavailable, MonoRateLimited)))
def refresh_account_details(mono_account_id: str) -> str:
    """Fetch the account from Mono and store it: the webhook is a hint, the API is the truth."""
    if not LinkedAccount.objects.linked().filter(mono_account_id=mono_account_id).exists():
        return "skipped"  # unlinked or deleted since: Mono would only answer 404
    try:
        deadline = Deadline.after(settings.MONO_TASK_DEADLINE)
        return rules.refresh_details(mono_account_id=mono_account_id, deadline=deadline)
    except rules.UnknownAccount:
        return "skipped"  # deleted between the check and the update


# A mail server answering 4xx (451 greylisting, full queues) or not answering is transient.
@app.task(queue=QUEUE_MAIL, retry=Backoff(max_attempts=12, retry_exceptions=(smtplib.SMTPException, OSError)))
def send_reauth_email(mono_account_id: str, step: int = 0) -> str:
    """Send email `step` about the account's current flag (0: the first, 1…: reminders), at most once.

    A step is sent only while it is the latest due one (accounts.notifications): a job that waited
    past the next reminder's time leaves it to that reminder. Sent first, recorded after, with no
    lock held meanwhile: a worker killed between the two sends it again on the rerun (at least
    once; the Message-ID is the same, so mail systems can fold the copies), never zero times.
    """
    account = LinkedAccount.objects.select_related("user").filter(mono_account_id=mono_account_id).first()
    if account is None or not account.reauth_required or account.unlinked_at or not account.reauth_requested_at:
        return "not_flagged"
    flagged_at = account.reauth_requested_at
    due = notifications.due_step(flagged_at, timezone.now())
    if step != due:
        return "not_due" if step > due else "superseded"
    if account.notifications.filter(flagged_at=flagged_at, step__gte=step).exists():
        return "already_sent"
    if not account.user.email:
        return "no_address"
    context = {
        "account": account,
        "user": account.user,
        "url": settings.SITE_URL + reverse("accounts:reauth"),
        "since": flagged_at,
        "reminder": step > 0,
        "reminders_left": len(notifications.reminder_offsets()) - step,
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
    rules.record_notification(account_pk=account.pk, flagged_at=flagged_at, step=step, sent_at=timezone.now())
    log.info("re-auth email sent account=%s step=%s", account.pk, step)
    return "sent"


@dataclass
class Reconciled:
    """What one reconciler pass queued."""

    first_emails: list[str] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)


def reconcile(*, now: datetime | None = None, batch: int | None = None) -> Reconciled:
    """Queue the follow-ups the state says are missing (state is the truth, tasks are hints).

    A flagged account's due email (a first email the webhook's job did not send within the grace
    period, or a reminder) and a refresh for each account whose details are older than a day, at
    most `batch` of each. Safe to run at any time, from several places at once: sends are
    recorded once per step and serialised per account, refreshes claimed with SKIP LOCKED.
    """
    now = now or timezone.now()
    batch = batch or settings.RECONCILE_BATCH
    done = Reconciled()
    for due in notifications.due_emails(now=now, limit=batch):
        queue_reauth_email(mono_account_id=due.mono_account_id, step=due.step, reconciling=True)
        (done.reminders if due.step else done.first_emails).append(due.mono_account_id)
    with transaction.atomic():  # the outbox again: the accounts are marked asked-for with their jobs
        stale = notifications.stale_details(now=now, limit=batch)
        rules.mark_details_requested(mono_account_ids=stale, now=now)
        for mono_account_id in stale:
            queue_refresh(mono_account_id=mono_account_id)
    done.refreshes = stale
    if done.first_emails or done.reminders or done.refreshes:
        log.info(
            "reconciler queued first_emails=%d reminders=%d refreshes=%d",
            len(done.first_emails),
            len(done.reminders),
            len(done.refreshes),
        )
    return done


@app.periodic(cron=settings.RECONCILE_CRON)
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="reconcile")
def reconcile_follow_ups(timestamp: int) -> str:
    """Every minute on any worker: a lost job delays an email or a refresh by a minute, never drops it."""
    done = reconcile()
    return f"first_emails={len(done.first_emails)} reminders={len(done.reminders)} refreshes={len(done.refreshes)}"
