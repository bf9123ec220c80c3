"""Linking a new bank account, from the widget's `code` to a LinkedAccount: what the page and the API call.

The request tries within its deadline; if Mono does not answer, the attempt stays pending and a
background job, committed with the attempt (an outbox), finishes it (linking.tasks).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from accounts.models import LinkAttempt, LinkedAccount
from accounts.throttles import LINK, limit_mono_action
from monolink.mono import TRANSIENT, Deadline

from . import tasks
from .exchange import LinkExchangeBusy, claim_link_code, exchange_link

log = logging.getLogger(__name__)

# Seconds between the end of a request's deadline and the background task's first try, so the two
# never call Mono for one code at once (the attempt's lease makes sure of it).
LINK_HANDOFF_MARGIN = 2.0


def start_link(*, user, code: str, institution_name: str, deadline: Deadline) -> LinkAttempt:
    """Link the account behind a Connect widget `code` within the request's deadline, or leave it pending.

    The attempt and its background exchange job commit together (an outbox): a web process killed
    mid-exchange loses nothing, the job starts once the request's deadline is over. Only the post
    that recorded the code calls Mono; any other post of it (double click, retried fetch, a
    racing tab) answers from the record.

    Only the post that records a code counts against the user's link limit (a double click is one
    link): past it, MonoActionLimited rolls the attempt back, so nothing is recorded or queued and the
    same code may be posted again once the wait is over.
    """
    with transaction.atomic():
        attempt, created = claim_link_code(user=user, code=code, institution_name=institution_name)
        if created:
            limit_mono_action(user, LINK)
            tasks.queue_exchange(attempt_id=attempt.pk, after=settings.MONO_REQUEST_DEADLINE + LINK_HANDOFF_MARGIN)
    if not created:
        return attempt
    try:
        return exchange_link(attempt_id=attempt.pk, deadline=deadline, lease=deadline.remaining() + 1)
    except (*TRANSIENT, LinkExchangeBusy) as exc:
        log.info("link pending attempt=%s: %s; the background task takes over", attempt.pk, type(exc).__name__)
        attempt.refresh_from_db()
        return attempt


def attempt_account(attempt: LinkAttempt) -> LinkedAccount | None:
    """The account a linked attempt created (None while pending or failed)."""
    if attempt.status != LinkAttempt.Status.LINKED:
        return None
    return LinkedAccount.objects.filter(mono_account_id=attempt.mono_account_id).first()


def attempt_state(attempt: LinkAttempt) -> dict:
    """What the user is told about a link attempt, on the pages and in the app alike (each adds its
    own addresses): its status, the message for it, and the account it created."""
    account = attempt_account(attempt)
    return {
        "attempt": attempt.pk,
        "status": attempt.status,
        "message": attempt.message(account),
        "account": account.pk if account else None,
    }
