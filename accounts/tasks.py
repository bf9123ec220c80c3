"""Background work that must not hold up a webhook answer: Mono API calls and email.

Enqueued by accounts.rules with transaction.on_commit, so a task never sees uncommitted state.
Each task is safe to run twice: it re-reads the account and calls the same idempotent rules.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django_tasks import task

from monolink.mono import MonoError

from . import rules
from .models import LinkedAccount

log = logging.getLogger(__name__)


@task()
def mint_reauth_token(mono_account_id: str) -> str:
    """Token mode: have a fresh re-auth token ready for the user's next visit (best effort)."""
    try:
        return rules.fetch_reauth_token(mono_account_id=mono_account_id)
    except MonoError as exc:
        # The page mints one on demand anyway; a failure here must never fail the webhook.
        log.warning("re-auth token prefetch failed account=%s error=%s", mono_account_id, type(exc).__name__)
        return "failed"


@task()
def refresh_account_details(mono_account_id: str) -> str:
    return rules.refresh_details(mono_account_id=mono_account_id)


@task()
def notify_reauth_required(account_pk: int) -> bool:
    """Email the user once per flag, however many times Mono repeats the webhook."""
    if not rules.mark_notified(account_pk=account_pk):
        return False
    account = LinkedAccount.objects.select_related("user").get(pk=account_pk)
    if not account.user.email:
        return False
    context = {"account": account, "url": settings.SITE_URL + reverse("accounts:reauth")}
    send_mail(
        subject=f"Reconnect your {account.institution_name or 'bank'} account",
        message=render_to_string("accounts/email/reauth_required.txt", context),
        from_email=None,
        recipient_list=[account.user.email],
    )
    return True
