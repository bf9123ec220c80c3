"""Background work that must not hold up a webhook answer: Mono API calls and email.

Run by Django's Tasks API (the django-tasks backport): in-process right after commit with the
immediate backend (the embedded default), by `python manage.py db_worker` with the database backend
(production). accounts.rules enqueues them with `transaction.on_commit`, so a task never sees
uncommitted state and a rolled-back webhook enqueues nothing.

Every task is safe to run twice (a worker may die after the work but before recording success, and
staff may re-enqueue a failed one): each re-reads the account and goes through the same idempotent
rules. Arguments and return values are stored in the task table and shown in admin, so they are ids
and outcomes, never a token or a key.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from monolink.mono import MonoError, MonoRateLimited, MonoUnavailable

from . import rules
from .models import LinkedAccount

log = logging.getLogger(__name__)

# Mono outages and 429s are transient; the client already retried within the call (seconds), so
# the task waits longer between attempts: 1, 2, 4, 8 minutes, then fails for staff to see.
REFRESH_MAX_ATTEMPTS = 5
REFRESH_RETRY_BASE = timedelta(minutes=1)


@task()
def follow_up_flag(account_pk: int) -> dict:
    """Everything a new flag needs once it is committed, queued as one task (one INSERT on the
    webhook's path, not one per step): email the user once, then in token mode have a token ready.
    The email goes first: it does not depend on Mono being up."""
    outcome = {"emailed": notify_reauth_required.call(account_pk)}
    if settings.MONO_REAUTH_MODE == "token":
        mono_account_id = LinkedAccount.objects.filter(pk=account_pk).values_list("mono_account_id", flat=True).first()
        outcome["token"] = mint_reauth_token.call(mono_account_id) if mono_account_id else "unknown_account"
    return outcome


@task()
def mint_reauth_token(mono_account_id: str) -> str:
    """Token mode: have a fresh re-auth token ready for the user's next visit (best effort)."""
    try:
        return rules.fetch_reauth_token(mono_account_id=mono_account_id)
    except rules.UnknownAccount:
        return "unknown_account"
    except MonoError as exc:
        # The re-auth page mints one on demand anyway: a failed prefetch is not worth a retry.
        log.warning("re-auth token prefetch failed account=%s error=%s", mono_account_id, type(exc).__name__)
        return "failed"


@task()
def refresh_account_details(mono_account_id: str, attempt: int = 1) -> str:
    """Fetch the account from Mono and store it: the webhook is a hint, the API is the truth.

    On a transient Mono failure the task re-enqueues itself with a delay (the database backend has
    no retries of its own) and reports "retry_scheduled"; after the last attempt, or on any other
    Mono error, it raises, so the task result is FAILED with its traceback in admin.
    """
    if not LinkedAccount.objects.linked().filter(mono_account_id=mono_account_id).exists():
        return "skipped"  # unlinked or deleted since: Mono would only answer 404
    try:
        return rules.refresh_details(mono_account_id=mono_account_id)
    except rules.UnknownAccount:
        return "skipped"  # deleted between the check and the update
    except (MonoUnavailable, MonoRateLimited) as exc:
        backend = refresh_account_details.get_backend()
        if attempt >= REFRESH_MAX_ATTEMPTS or not backend.supports_defer:
            raise
        run_after = timezone.now() + REFRESH_RETRY_BASE * 2 ** (attempt - 1)
        retry = refresh_account_details.using(run_after=run_after).enqueue(mono_account_id, attempt=attempt + 1)
        log.warning(
            "account refresh failed account=%s error=%s attempt=%d; retry %s at %s",
            mono_account_id,
            type(exc).__name__,
            attempt,
            retry.id,
            run_after.isoformat(),
        )
        return "retry_scheduled"


@task()
def notify_reauth_required(account_pk: int) -> bool:
    """Email the user once per flag, however many times Mono repeats the webhook or the task runs.

    The claim (rules.mark_notified) and the send share one transaction: a second run waits on the
    claimed row and then finds it taken; a failed send rolls the claim back, so a re-run can send.
    """
    with transaction.atomic():
        if not rules.mark_notified(account_pk=account_pk):
            return False
        account = LinkedAccount.objects.select_related("user").get(pk=account_pk)
        if not account.user.email:
            return False
        context = {
            "account": account,
            "user": account.user,
            "url": settings.SITE_URL + reverse("accounts:reauth"),
        }
        send_mail(
            subject=f"Reconnect your {account.institution_name or 'bank'} account",
            message=render_to_string("accounts/email/reauth_required.txt", context),
            from_email=None,
            recipient_list=[account.user.email],
        )
    log.info("re-auth email sent account=%s", account_pk)
    return True
