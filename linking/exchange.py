"""Linking a new bank account: a Connect widget `code`, recorded once and exchanged at Mono once.

One LinkAttempt per code (its unique hash decides which post exchanges it). Whoever exchanges holds
a lease on the attempt, so the request and the background job never call Mono for one code at once,
and no row lock is held while Mono thinks. linking.services.start_link is the way in.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import LinkAttempt, LinkedAccount
from monolink.mono import TRANSIENT, AccountDetails, Deadline, MonoError, MonoNotFound, MonoRequestError, get_client
from reauth import state
from reauth import tasks as reauth_tasks
from webhooks import tasks as webhook_tasks

log = logging.getLogger(__name__)


class AccountTakenError(Exception):
    """The Mono account is already linked to another user."""


def link_account(*, user, mono_account_id: str, details: AccountDetails | None = None) -> LinkedAccount:
    """Create (or return) the user's LinkedAccount for a Mono id, and queue the replay of the webhooks
    that beat us here (parked as unmatched) in the same transaction: an outbox, like the webhook's
    own follow-ups, so a crash after the commit cannot strand them."""
    with transaction.atomic():
        account, _created = LinkedAccount.objects.select_for_update().get_or_create(
            mono_account_id=mono_account_id, defaults={"user": user}
        )
        if account.user_id != user.pk:
            raise AccountTakenError("This bank account is already linked to another user.")
        if account.unlinked_at:  # linked again after an unlink: a fresh start
            account.unlinked_at = None
            account.reauth_required = False
            account.save()
        if details is not None:
            state.copy_details(account, details)
            account.save()
        webhook_tasks.queue_replay(mono_account_id=mono_account_id)
    return account


class LinkCodeTaken(Exception):
    """Another user already posted this code (it is single-use): nothing of theirs is shown."""


class LinkExchangeBusy(Exception):
    """Someone else is exchanging this code right now; try again once their lease ends."""

    def __init__(self, retry_after: float):
        super().__init__(f"the link code is being exchanged elsewhere; retry in {retry_after:.0f} s")
        self.retry_after = retry_after  # read by monolink.taskqueue.Backoff


@dataclass(frozen=True)
class Exchanged:
    """What Mono answered for a code: the account id, and its details unless fetching them failed."""

    mono_account_id: str
    details: AccountDetails | None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def claim_link_code(*, user, code: str, institution_name: str = "") -> tuple[LinkAttempt, bool]:
    """Record a widget code once. (attempt, True) for the post that recorded it, which exchanges it;
    (the existing attempt, False) for every other post of that code, which answers from it.

    The unique code_hash decides, also between app servers: a racing insert fails and reads the
    winner's row. The savepoint keeps the caller's transaction usable after that IntegrityError.
    """
    try:
        with transaction.atomic():
            attempt = LinkAttempt.objects.create(
                code_hash=code_hash(code), user=user, code=code, institution_name=institution_name
            )
        return attempt, True
    except IntegrityError:
        attempt = LinkAttempt.objects.get(code_hash=code_hash(code))
    if attempt.user_id != user.pk:
        raise LinkCodeTaken("This link code was already used.")
    return attempt, False


def claim_link_exchange(*, attempt_id: int, seconds: float) -> LinkAttempt:
    """Take the lease to exchange a pending attempt's code for `seconds` (a conditional UPDATE: no
    row lock is held while Mono is called). Returns the attempt: claimed if still pending, else as
    it ended. LinkExchangeBusy while another holder's lease runs."""
    now = timezone.now()
    claimed = (
        LinkAttempt.objects.filter(pk=attempt_id, status=LinkAttempt.Status.PENDING)
        .filter(Q(exchanging_until__isnull=True) | Q(exchanging_until__lt=now))
        .update(exchanging_until=now + timedelta(seconds=seconds), updated_at=now)
    )
    attempt = LinkAttempt.objects.get(pk=attempt_id)
    if not claimed and attempt.status == LinkAttempt.Status.PENDING:
        raise LinkExchangeBusy(retry_after=max(1.0, (attempt.exchanging_until - now).total_seconds()))
    return attempt


def release_link_exchange(*, attempt_id: int) -> None:
    """Mono did not answer: give the lease back so the next try need not wait for it."""
    LinkAttempt.objects.filter(pk=attempt_id, status=LinkAttempt.Status.PENDING).update(
        exchanging_until=None, updated_at=timezone.now()
    )


def exchange_at_mono(*, code: str, deadline: Deadline) -> Exchanged:
    """Exchange the code, then fetch the account's details best effort (network only, no transaction).

    Raises MonoError when the exchange itself fails. Details failing must not fail the link: the
    caller queues a refresh instead of leaving the account empty.
    """
    client = get_client()
    mono_account_id = client.exchange_code(code, deadline=deadline)
    try:
        details = client.get_account(mono_account_id, deadline=deadline)
    except MonoError as exc:
        log.warning("details fetch after link failed account=%s error=%s", mono_account_id, type(exc).__name__)
        details = None
    return Exchanged(mono_account_id=mono_account_id, details=details)


def link_failure_message(exc: MonoError) -> str:
    """What the user reads when Mono refused a code for good."""
    if isinstance(exc, MonoRequestError | MonoNotFound):
        return "Mono refused the link (the code was not valid or had expired). Please link your bank again."
    return exc.user_message


@transaction.atomic
def fail_link(*, attempt_id: int, error: str) -> LinkAttempt:
    """End a pending attempt as failed; its code is dropped (single-use, and of no use to anyone now)."""
    attempt = LinkAttempt.objects.select_for_update().get(pk=attempt_id)
    if attempt.status == LinkAttempt.Status.PENDING:
        attempt.status = LinkAttempt.Status.FAILED
        attempt.error = error[:255]
        attempt.code = None
        attempt.exchanging_until = None
        attempt.save(update_fields=["status", "error", "code", "exchanging_until", "updated_at"])
    return attempt


@transaction.atomic
def complete_link(*, attempt_id: int, exchanged: Exchanged) -> LinkAttempt:
    """Mono took the code: create the user's account (or find it) and close the attempt."""
    attempt = LinkAttempt.objects.select_for_update().select_related("user").get(pk=attempt_id)
    if attempt.status != LinkAttempt.Status.PENDING:
        return attempt  # finished meanwhile: the first answer stands
    try:
        link_account(user=attempt.user, mono_account_id=exchanged.mono_account_id, details=exchanged.details)
    except AccountTakenError as exc:
        attempt.status, attempt.error = LinkAttempt.Status.FAILED, str(exc)
    else:
        attempt.status = LinkAttempt.Status.LINKED
    attempt.mono_account_id = exchanged.mono_account_id
    attempt.code = None
    attempt.exchanging_until = None
    attempt.save()
    return attempt


CODE_EXPIRED = "Mono did not answer before the link code expired. Please link your bank again."


def expire_overdue_attempts(*, now=None) -> int:
    """End, as failed, every attempt still pending long after its code expired, dropping the code.

    Its job normally ends it (exchange_link fails an expired code); this catches the attempt whose
    job is gone (failed for good, deleted by staff), which would otherwise keep a code in the table
    and "Linking…" on the dashboard for ever. It waits past expiry for the longest Mono call that
    could have started before it (the task's deadline) and skips an attempt under a live lease, so
    it never races an exchange Mono is answering. One UPDATE; returns how many attempts it ended.
    """
    now = now or timezone.now()
    overdue = now - settings.MONO_LINK_CODE_LIFETIME - timedelta(seconds=settings.MONO_TASK_DEADLINE + 60)
    return (
        LinkAttempt.objects.filter(status=LinkAttempt.Status.PENDING, created_at__lt=overdue)
        .filter(Q(exchanging_until__isnull=True) | Q(exchanging_until__lt=now))
        .update(status=LinkAttempt.Status.FAILED, error=CODE_EXPIRED, code=None, exchanging_until=None, updated_at=now)
    )


def exchange_link(*, attempt_id: int, deadline: Deadline, lease: float) -> LinkAttempt:
    """Exchange a pending attempt's code at Mono and record the answer.

    Mono not answering (MonoUnavailable, MonoRateLimited) is raised with the attempt still pending
    and its code kept, unless the code has expired meanwhile, which ends it. Any other refusal ends
    it as failed. Details that could not be fetched after a good exchange queue a refresh, in the
    transaction that links the account.
    """
    attempt = claim_link_exchange(attempt_id=attempt_id, seconds=lease)
    if attempt.status != LinkAttempt.Status.PENDING:
        return attempt
    if timezone.now() >= attempt.expires_at:
        return fail_link(attempt_id=attempt_id, error=CODE_EXPIRED)
    try:
        exchanged = exchange_at_mono(code=attempt.code, deadline=deadline)
    except TRANSIENT:
        if timezone.now() >= attempt.expires_at:
            return fail_link(attempt_id=attempt_id, error=CODE_EXPIRED)
        release_link_exchange(attempt_id=attempt_id)
        raise
    except MonoError as exc:
        log.warning("link refused attempt=%s error=%s", attempt_id, type(exc).__name__)
        return fail_link(attempt_id=attempt_id, error=link_failure_message(exc))
    with transaction.atomic():
        attempt = complete_link(attempt_id=attempt_id, exchanged=exchanged)
        if attempt.status == LinkAttempt.Status.LINKED and exchanged.details is None:
            reauth_tasks.queue_refresh(mono_account_id=exchanged.mono_account_id)
    return attempt
