"""The notifications' background work: the email jobs and the reconciler that re-derives missing ones.

`queue_reauth_email` is what callers use, inside their transaction: with Procrastinate the job
commits with the state change that asked for it (an outbox), and a rolled-back webhook queues
nothing. Every task is safe to run twice and thin: it calls one service. Job arguments are shown in
admin, so they are ids, never a token or a key. Task names keep the `accounts.tasks.` prefix they had
before the code moved here, so jobs already queued by an older release still find their task.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from procrastinate.types import JobToDefer

from monolink.taskqueue import QUEUE_MAIL, QUEUE_MAINTENANCE, Backoff, app, defer, job_to_defer
from reauth import state
from reauth.tasks import queue_refresh

from . import email, password_reset, schedule

log = logging.getLogger(__name__)


def queue_reauth_email(*, mono_account_id: str, step: int = 0, reconciling: bool = False) -> None:
    """Email the user about their flagged account. The lock keeps two sends for one account apart.

    The reconciler's jobs also carry a queueing lock, so however many passes run while a job waits
    (a mail server down for an hour) one job per account waits, not sixty. The webhook's job has
    none: a new flag queues once, and its path stays one INSERT without a savepoint.
    """
    defer(
        send_reauth_email,
        queueing_lock=schedule.mail_queueing_lock(mono_account_id) if reconciling else None,
        **_reauth_email(mono_account_id, step),
    )


def first_reauth_email_job(*, mono_account_id: str) -> JobToDefer:
    """queue_reauth_email() for a new flag, as a row for a statement that queues it itself (the
    webhook's one statement on PostgreSQL: DEFER_JOBS_SQL)."""
    return job_to_defer(send_reauth_email, **_reauth_email(mono_account_id, 0))


def _reauth_email(mono_account_id: str, step: int) -> dict:
    return {"lock": f"mail:{mono_account_id}", "mono_account_id": mono_account_id, "step": step}


# A mail server answering 4xx (451 greylisting, full queues) or not answering is transient, and so is
# a provider answering 5xx or 429 or not at all. A provider refusing the address is not (notifications.email).
@app.task(
    name="accounts.tasks.send_reauth_email",
    queue=QUEUE_MAIL,
    retry=Backoff(max_attempts=12, retry_exceptions=(smtplib.SMTPException, OSError, email.ProviderUnavailable)),
)
def send_reauth_email(mono_account_id: str, step: int = 0) -> str:
    """Send email `step` about the account's current flag, at most once (notifications.email)."""
    return email.send_due_email(mono_account_id=mono_account_id, step=step)


def queue_password_reset_email(*, user_id: int) -> None:
    """Email the user a reset link from the mail queue: the request that asked answers at once, the
    same for a known address as for an unknown one. The job carries the id, never a link or token."""
    defer(send_password_reset_email, user_id=user_id)


@app.task(
    name="notifications.tasks.send_password_reset_email",
    queue=QUEUE_MAIL,
    retry=Backoff(max_attempts=12, retry_exceptions=(smtplib.SMTPException, OSError)),
)
def send_password_reset_email(user_id: int) -> str:
    """Retried like the re-auth email: a mail server answering 4xx or not answering is transient."""
    return password_reset.send_password_reset_email(user_id=user_id)


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
    for due in schedule.due_emails(now=now, limit=batch):
        queue_reauth_email(mono_account_id=due.mono_account_id, step=due.step, reconciling=True)
        (done.reminders if due.step else done.first_emails).append(due.mono_account_id)
    with transaction.atomic():  # the outbox again: the accounts are marked asked-for with their jobs
        stale = schedule.stale_details(now=now, limit=batch)
        state.mark_details_requested(mono_account_ids=stale, now=now)
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
@app.task(name="accounts.tasks.reconcile_follow_ups", queue=QUEUE_MAINTENANCE, queueing_lock="reconcile")
def reconcile_follow_ups(timestamp: int) -> str:
    """Every minute on any worker: a lost job delays an email or a refresh by a minute, never drops it."""
    done = reconcile()
    return f"first_emails={len(done.first_emails)} reminders={len(done.reminders)} refreshes={len(done.refreshes)}"
