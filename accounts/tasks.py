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
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse

from monolink.mono import Deadline, MonoRateLimited, MonoUnavailable
from monolink.taskqueue import QUEUE_MAIL, QUEUE_MONO, Backoff, app, defer

from . import rules
from .models import LinkedAccount

log = logging.getLogger(__name__)


def queue_reauth_email(*, mono_account_id: str) -> None:
    """Tell the user their bank wants them again. The lock keeps two sends for one account apart."""
    defer(send_reauth_email, lock=f"mail:{mono_account_id}", mono_account_id=mono_account_id)


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
def send_reauth_email(mono_account_id: str) -> str:
    """Email the user once per flag, however often Mono repeats the webhook or the job runs.

    Sent first, recorded after, with no lock held meanwhile: a worker killed between the two sends
    it again on the rerun (at least once; the Message-ID is the same, so mail systems can fold the
    copies), never zero times.
    """
    account = LinkedAccount.objects.select_related("user").filter(mono_account_id=mono_account_id).first()
    if account is None or not account.reauth_required or account.unlinked_at:
        return "not_flagged"
    if account.reauth_notified_at is not None:
        return "already_sent"
    if not account.user.email:
        return "no_address"
    context = {"account": account, "user": account.user, "url": settings.SITE_URL + reverse("accounts:reauth")}
    flag_started = int(account.reauth_requested_at.timestamp()) if account.reauth_requested_at else 0
    EmailMessage(
        subject=f"Reconnect your {account.institution_name or 'bank'} account",
        body=render_to_string("accounts/email/reauth_required.txt", context),
        to=[account.user.email],
        headers={"Message-ID": f"<reauth-{account.pk}-{flag_started}@{urlsplit(settings.SITE_URL).hostname}>"},
    ).send()
    rules.mark_notified(account_pk=account.pk)
    log.info("re-auth email sent account=%s", account.pk)
    return "sent"
