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

from monolink.mono import Deadline, MonoError, MonoRateLimited, MonoUnavailable
from monolink.taskqueue import QUEUE_MAIL, QUEUE_MAINTENANCE, QUEUE_MONO, Backoff, app, defer

from . import notifications, rules
from .models import LinkAttempt, LinkedAccount

log = logging.getLogger(__name__)

# Mono down or rate-limiting: worth another try later, for any task that calls Mono.
_TRANSIENT = (MonoUnavailable, MonoRateLimited)


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


# --- linking: exchange the widget's code now, or in the background until Mono answers ------------

# Seconds between the end of a request's deadline and the background task's first try, so the two
# never call Mono for one code at once (the attempt's lease makes sure of it).
LINK_HANDOFF_MARGIN = 2.0
CODE_EXPIRED = "Mono did not answer before the link code expired. Please link your bank again."


def start_link(*, user, code: str, institution_name: str, deadline: Deadline) -> LinkAttempt:
    """Link the account behind a Connect widget `code` within the request's deadline, or leave it pending.

    The attempt and its background exchange job commit together (an outbox): a web process killed
    mid-exchange loses nothing, the job starts once the request's deadline is over. Only the post
    that recorded the code calls Mono; any other post of it (double click, retried fetch, a
    racing tab) answers from the record.
    """
    with transaction.atomic():
        attempt, created = rules.claim_link_code(user=user, code=code, institution_name=institution_name)
        if created:
            defer(
                exchange_link_code,
                schedule_in=settings.MONO_REQUEST_DEADLINE + LINK_HANDOFF_MARGIN,
                attempt_id=attempt.pk,
            )
    if not created:
        return attempt
    try:
        return exchange_link(attempt_id=attempt.pk, deadline=deadline, lease=deadline.remaining() + 1)
    except (*_TRANSIENT, rules.LinkExchangeBusy) as exc:
        log.info("link pending attempt=%s: %s; the background task takes over", attempt.pk, type(exc).__name__)
        attempt.refresh_from_db()
        return attempt


def exchange_link(*, attempt_id: int, deadline: Deadline, lease: float) -> LinkAttempt:
    """Exchange a pending attempt's code at Mono and record the answer.

    Mono not answering (MonoUnavailable, MonoRateLimited) is raised with the attempt still pending
    and its code kept, unless the code has expired meanwhile, which ends it. Any other refusal ends
    it as failed. Details that could not be fetched after a good exchange queue a refresh, in the
    transaction that links the account.
    """
    attempt = rules.claim_link_exchange(attempt_id=attempt_id, seconds=lease)
    if attempt.status != LinkAttempt.Status.PENDING:
        return attempt
    if timezone.now() >= attempt.expires_at:
        return rules.fail_link(attempt_id=attempt_id, error=CODE_EXPIRED)
    try:
        exchanged = rules.exchange_at_mono(code=attempt.code, deadline=deadline)
    except _TRANSIENT:
        if timezone.now() >= attempt.expires_at:
            return rules.fail_link(attempt_id=attempt_id, error=CODE_EXPIRED)
        rules.release_link_exchange(attempt_id=attempt_id)
        raise
    except MonoError as exc:
        log.warning("link refused attempt=%s error=%s", attempt_id, type(exc).__name__)
        return rules.fail_link(attempt_id=attempt_id, error=rules.link_failure_message(exc))
    with transaction.atomic():
        attempt = rules.complete_link(attempt_id=attempt_id, exchanged=exchanged)
        if attempt.status == LinkAttempt.Status.LINKED and exchanged.details is None:
            queue_refresh(mono_account_id=exchanged.mono_account_id)
    return attempt


# Retried while Mono is down, until Mono answers or the code expires (MONO_LINK_CODE_LIFETIME): the
# attempt then fails for the user to try again. At the default backoff (2 s doubling, capped at
# 15 min) 20 attempts span hours, so the job ends through the code's expiry, not its last attempt.
@app.task(
    queue=QUEUE_MONO,
    retry=Backoff(max_attempts=20, retry_exceptions=(*_TRANSIENT, rules.LinkExchangeBusy)),
)
def exchange_link_code(attempt_id: int) -> str:
    """The background half of a link: the attempt's code, by id (a job's arguments are shown in admin)."""
    deadline = Deadline.after(settings.MONO_TASK_DEADLINE)
    return exchange_link(attempt_id=attempt_id, deadline=deadline, lease=settings.MONO_TASK_DEADLINE + 1).status


# Mono outages and 429s are transient; the client already retried within its deadline, so the task
# backs off for longer (2 s doubling to 15 min, ~2 h in all) before it fails for staff to see.
@app.task(queue=QUEUE_MONO, retry=Backoff(max_attempts=12, retry_exceptions=_TRANSIENT))
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
