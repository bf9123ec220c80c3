"""The re-auth state rules: the only code that writes a LinkedAccount's re-auth fields.

Views, webhook handlers, admin actions, tasks and commands all call these plain functions. Each
rule holds the account row (`select_for_update`, or a conditional UPDATE on the webhook's hot path)
so two deliveries racing on one account apply one after the other, and compares Mono's timestamps
so a late event cannot undo newer state. An unknown account is found before anything is written
and raised as UnknownAccount, leaving the webhook pipeline's transaction usable (see _with_locked).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.db.models.sql import UpdateQuery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monolink.mono import AccountDetails, Deadline, MonoError, MonoNotFound, MonoRequestError, ReauthToken, get_client

from .models import LinkAttempt, LinkedAccount, Notification, User
from .signals import account_linked

log = logging.getLogger(__name__)


class Change(enum.StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # already in that state (e.g. Mono's retry of a flag)
    STALE = "stale"  # older than the state we hold
    IGNORED = "ignored"  # does not apply (e.g. the account is unlinked)


class UnknownAccount(LookupError):
    """No LinkedAccount with this Mono id: the webhook may have beaten the browser's code exchange."""


class AccountTakenError(Exception):
    """The Mono account is already linked to another user."""


def _locked(mono_account_id: str) -> LinkedAccount:
    try:
        return LinkedAccount.objects.select_for_update().get(mono_account_id=mono_account_id)
    except LinkedAccount.DoesNotExist:
        raise UnknownAccount(mono_account_id) from None


_CLEARED_FIELDS = ["reauth_required", "reauth_code", "reauth_code_issued_at", "reauth_submitted_at"]


def _clear_flag(account: LinkedAccount) -> list[str]:
    """No flag, no token (a token outliving its flag is only a liability), not awaiting anything.
    Returns the fields it set, for save(update_fields=...)."""
    account.reauth_required = False
    account.reauth_code = None
    account.reauth_code_issued_at = None
    account.reauth_submitted_at = None
    return _CLEARED_FIELDS


def _with_locked(mono_account_id: str, apply: Callable[[LinkedAccount], Change]) -> Change:
    """Run `apply` on the account, row-locked, in the caller's transaction or one of its own.

    No savepoint: nested in the webhook pipeline's transaction it would cost two round trips per
    event for nothing (a fault there fails the whole delivery anyway). The one expected miss, an
    unknown account, is found by the first statement, before anything is written, and raised once
    the block has ended cleanly, so the caller's transaction stays usable (the pipeline then marks
    the delivery unmatched).
    """
    with transaction.atomic(savepoint=False):
        account = LinkedAccount.objects.select_for_update().filter(mono_account_id=mono_account_id).first()
        if account is not None:
            return apply(account)
    raise UnknownAccount(mono_account_id)


def _is_stale(last: datetime | None, occurred_at: datetime | None) -> bool:
    # Older payloads carry no timestamp: then arrival order is all we have.
    return occurred_at is not None and last is not None and occurred_at < last


def _advance(last: datetime | None, occurred_at: datetime | None) -> datetime | None:
    if occurred_at is None:
        return last
    return occurred_at if last is None else max(last, occurred_at)


def _flag_values(now: datetime) -> dict:
    """What a new flag sets: flagged since now, not awaiting the widget, not yet notified."""
    return {
        "reauth_required": True,
        "reauth_requested_at": now,
        "reauth_submitted_at": None,
        "reauth_notified_at": None,
    }


def flag_for_reauth(*, mono_account_id: str, occurred_at: datetime | None = None) -> Change:
    """Mono says the bank needs the user again (MFA): flag the account and tell the user once.

    The webhook's hot path, so one conditional UPDATE does what SELECT … FOR UPDATE then UPDATE did,
    for a new flag and for Mono's repeat of one alike, with the same guarantees: PostgreSQL takes the
    row lock and re-checks the WHERE against the row as committed by whoever held it, so a racing
    re-auth still wins by its timestamp (a late flag must not undo a re-auth). A repeat keeps the
    flag's time and notification and only advances the order guard. Anything else (unknown,
    unlinked, stale) matches no row and falls to the locked path, which says which.
    """
    now = timezone.now()
    values = {
        "reauth_required": True,
        "reauth_requested_at": _kept_if_flagged("reauth_requested_at", now),
        "reauth_submitted_at": _kept_if_flagged("reauth_submitted_at", None),
        "reauth_notified_at": _kept_if_flagged("reauth_notified_at", None),
        "updated_at": now,
    }
    if occurred_at is not None:
        values["last_event_at"] = occurred_at  # the WHERE makes it the newest
    candidates = LinkedAccount.objects.filter(
        _not_older(occurred_at), mono_account_id=mono_account_id, unlinked_at__isnull=True
    )
    requested_at = _update_returning(candidates, "reauth_requested_at", **values)
    if requested_at is _NO_ROW:
        return _with_locked(mono_account_id, partial(_flag_locked, occurred_at=occurred_at))
    if _as_utc(requested_at) == now:  # our `now` in the row: this UPDATE raised the flag
        return Change.APPLIED  # the handler queues the email in the same transaction (the outbox)
    return Change.UNCHANGED


def _kept_if_flagged(field: str, new_value: datetime | None) -> Case:
    """In the flag's UPDATE: the column as it is on an account already flagged, else `new_value`."""
    return Case(When(reauth_required=True, then=F(field)), default=Value(new_value, output_field=DateTimeField()))


_NO_ROW = object()


def _as_utc(value: datetime | str) -> datetime:
    """A timestamp read by a raw cursor: aware on PostgreSQL, naive UTC (or text) on SQLite."""
    value = parse_datetime(value) if isinstance(value, str) else value
    return value.replace(tzinfo=UTC) if timezone.is_naive(value) else value


def _update_returning(queryset: QuerySet, column: str, **values):
    """`queryset.update(**values)` for at most one row, returning its `column` afterwards (_NO_ROW if
    none matched). Django's update() returns only a count; the statement here is Django's own (types,
    quoting, WHERE) with RETURNING appended, which PostgreSQL and SQLite (3.35+) both accept."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {connection.ops.quote_name(column)}", params)
        row = cursor.fetchone()
    return _NO_ROW if row is None else row[0]


def _flag_locked(account: LinkedAccount, *, occurred_at: datetime | None) -> Change:
    if account.unlinked_at:
        return Change.IGNORED
    if _is_stale(account.last_event_at, occurred_at):  # a late flag must not undo a re-auth
        return Change.STALE
    account.last_event_at = _advance(account.last_event_at, occurred_at)
    if account.reauth_required:
        account.save(update_fields=["last_event_at", "updated_at"])
        return Change.UNCHANGED
    # Changed between the UPDATE and this lock (linked again after an unlink): flag it now.
    values = _flag_values(timezone.now())
    for field, value in values.items():
        setattr(account, field, value)
    account.save(update_fields=[*values, "last_event_at", "updated_at"])  # only what changed
    return Change.APPLIED


def _not_older(occurred_at: datetime | None) -> Q:
    """The rows an event at `occurred_at` is not older than (the order guard, as a filter)."""
    if occurred_at is None:
        return Q()
    return Q(last_event_at__isnull=True) | Q(last_event_at__lte=occurred_at)


def mark_reauthorised(*, mono_account_id: str, occurred_at: datetime | None = None) -> Change:
    """Mono confirms the user finished re-auth: clear the flag and the token."""
    return _with_locked(mono_account_id, partial(_reauthorised, occurred_at=occurred_at))


def _reauthorised(account: LinkedAccount, *, occurred_at: datetime | None) -> Change:
    if account.unlinked_at:
        return Change.IGNORED
    if _is_stale(account.last_event_at, occurred_at):
        return Change.STALE
    account.last_event_at = _advance(account.last_event_at, occurred_at)
    was_flagged = account.reauth_required
    cleared = _clear_flag(account)
    account.reauth_completed_at = timezone.now()
    account.save(update_fields=[*cleared, "reauth_completed_at", "last_event_at", "updated_at"])
    return Change.APPLIED if was_flagged else Change.UNCHANGED


def mark_unlinked(*, mono_account_id: str, occurred_at: datetime | None = None) -> Change:
    """Mono says the link is gone: mark it unlinked (never sent to the re-auth page again)."""
    return _with_locked(mono_account_id, partial(_unlinked, occurred_at=occurred_at))


def _unlinked(account: LinkedAccount, *, occurred_at: datetime | None) -> Change:
    if account.unlinked_at:
        return Change.UNCHANGED
    if _is_stale(account.last_event_at, occurred_at):
        return Change.STALE
    account.last_event_at = _advance(account.last_event_at, occurred_at)
    account.unlinked_at = occurred_at or timezone.now()
    cleared = _clear_flag(account)
    account.save(update_fields=[*cleared, "unlinked_at", "last_event_at", "updated_at"])
    return Change.APPLIED


def apply_account_update(
    *, mono_account_id: str, details: AccountDetails, occurred_at: datetime | None = None
) -> Change:
    """Store synced data. Never clears the flag: Mono sends account_reauthorized for that."""
    return _with_locked(mono_account_id, partial(_updated, details=details, occurred_at=occurred_at))


def _updated(account: LinkedAccount, *, details: AccountDetails, occurred_at: datetime | None) -> Change:
    if _is_stale(account.details_as_of, occurred_at):
        return Change.STALE
    account.details_as_of = _advance(account.details_as_of, occurred_at)
    copied = _copy_details(account, details)
    account.save(update_fields=[*copied, "details_as_of", "updated_at"])
    return Change.APPLIED


def _copy_details(account: LinkedAccount, details: AccountDetails) -> list[str]:
    """Copy what Mono told us, keeping what we had where this payload is silent; returns the fields set."""
    values = {
        "account_name": details.name,
        "account_number_masked": details.account_number_masked,
        "account_type": details.type,
        "currency": details.currency,
        "balance": details.balance,
        "data_status": (details.data_status or "").upper(),
        "auth_method": details.auth_method,
        "institution_name": details.institution.name,
        "institution_bank_code": details.institution.bank_code,
        "institution_type": details.institution.type,
    }
    copied = [field for field, value in values.items() if value not in (None, "")]
    for field in copied:
        setattr(account, field, values[field])
    account.details_checked_at = timezone.now()
    return [*copied, "details_checked_at"]


def refresh_details(*, mono_account_id: str, deadline: Deadline | None = None) -> Change:
    """Ask Mono for the account's details (outside any transaction: a network call) and store them."""
    details = get_client().get_account(mono_account_id, deadline=deadline)
    return apply_account_update(mono_account_id=mono_account_id, details=details, occurred_at=None)


def token_fingerprint(token: str) -> str:
    """What we keep of a re-auth token: a SHA-256 prefix, enough to match it with Mono's logs, never
    enough to use it (a token is high-entropy, so the prefix cannot be turned back into one)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


@transaction.atomic
def store_reauth_token(*, mono_account_id: str, token: str, issued_at: datetime) -> Change:
    """Record that a token was minted: its fingerprint and when, never the token itself."""
    account = _locked(mono_account_id)
    if not account.reauth_required or account.unlinked_at:
        return Change.IGNORED  # re-authorised meanwhile
    if account.reauth_code_issued_at and account.reauth_code_issued_at > issued_at:
        return Change.STALE
    account.reauth_code = token_fingerprint(token)
    account.reauth_code_issued_at = issued_at
    account.save(update_fields=["reauth_code", "reauth_code_issued_at", "updated_at"])
    return Change.APPLIED


def _mint(mono_account_id: str, deadline: Deadline | None) -> tuple[ReauthToken, Change]:
    # Network first, then a short transaction: no row lock is held while Mono thinks.
    minted = get_client().reauthorise(mono_account_id, deadline=deadline)
    change = store_reauth_token(mono_account_id=mono_account_id, token=minted.token, issued_at=minted.issued_at)
    return minted, change


def reauth_credential(*, user, account_id: int, deadline: Deadline) -> str:
    """What the user's click passes to `connect.reauthorise(...)` for one of their flagged accounts.

    Account mode (connect.js >= 2.1.0) passes the Mono account id: no call to Mono. Token mode mints a
    token now, at the click (it lives 10 minutes, so one minted earlier may be dead by the time the
    user clicks), within the request's deadline; MonoError propagates for the view to word.
    LinkedAccount.DoesNotExist when the account is not this user's or no longer flagged.
    """
    account = LinkedAccount.objects.for_user(user).flagged().get(pk=account_id)
    if settings.MONO_REAUTH_MODE == "account":
        return account.mono_account_id
    minted, _change = _mint(account.mono_account_id, deadline)
    return minted.token


def hosted_reauth_available() -> bool:
    """Mono's hosted re-auth page exists only in the v2 API (POST /v2/accounts/initiate)."""
    return settings.MONO_API_VERSION == "v2"


def start_hosted_reauth(*, user, account_id: int, redirect_url: str, deadline: Deadline) -> str:
    """Ask Mono for its hosted re-auth page for one of the user's flagged accounts: the URL to send them to.

    Each attempt gets a fresh `meta.ref` (Mono refuses a reused one). Nothing is stored: the URL is a
    way into the user's bank connection, so it goes to the user's browser and nowhere else.
    """
    account = LinkedAccount.objects.for_user(user).flagged().get(pk=account_id)
    ref = f"monolink-reauth-{secrets.token_hex(12)}"
    return get_client().initiate_reauth(account.mono_account_id, redirect_url=redirect_url, ref=ref, deadline=deadline)


@transaction.atomic
def record_reauth_attempt(*, user, account_id: int) -> LinkedAccount:
    """The widget reported success: wait for Mono's confirmation without nagging the user meanwhile."""
    account = LinkedAccount.objects.select_for_update().for_user(user).flagged().get(pk=account_id)
    account.reauth_submitted_at = timezone.now()
    account.save(update_fields=["reauth_submitted_at", "updated_at"])
    return account


@transaction.atomic
def clear_reauth_flag(*, mono_account_id: str, reason: str) -> Change:
    """Staff override. The reason goes to the log line (and, from the admin, to Django's admin log)."""
    account = _locked(mono_account_id)
    if not account.reauth_required:
        return Change.UNCHANGED
    cleared = _clear_flag(account)
    account.reauth_completed_at = timezone.now()
    account.save(update_fields=[*cleared, "reauth_completed_at", "updated_at"])
    log.info("re-auth flag cleared by staff account=%s reason=%r", account.pk, reason)
    return Change.APPLIED


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


@transaction.atomic
def mark_details_requested(*, mono_account_ids: list[str], now: datetime) -> int:
    """The reconciler queued a refresh for these accounts: they are not due again for a day."""
    return LinkedAccount.objects.filter(mono_account_id__in=mono_account_ids).update(details_checked_at=now)


def link_account(*, user, mono_account_id: str, details: AccountDetails | None = None) -> LinkedAccount:
    """Create (or return) the user's LinkedAccount for a Mono id, then replay webhooks that beat us here."""
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
            _copy_details(account, details)
            account.save()
        # Webhooks that beat the browser here were parked; whoever listens (webhooks) replays them.
        transaction.on_commit(partial(account_linked.send, sender=LinkedAccount, mono_account_id=mono_account_id))
    return account


# --- linking a new account: one LinkAttempt per widget code ---------------------------------------


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


RECONNECTION_NOTICE_WINDOW = timedelta(days=7)


def take_reconnection_notices(*, user, accounts: list[LinkedAccount]) -> list[LinkedAccount]:
    """The accounts whose flag cleared since the user last saw a notice (at most a week back), and
    remember that they were seen: the dashboard says "Access Bank reconnected" once.

    Marks up to the newest reconnection shown, not "now": a flag that clears while this page renders
    still gets its notice next time.
    """
    since = max(user.reconnections_seen_at or user.date_joined, timezone.now() - RECONNECTION_NOTICE_WINDOW)
    fresh = [
        account
        for account in accounts
        if account.state == LinkedAccount.State.OK
        and account.reauth_completed_at
        and account.reauth_completed_at > since
    ]
    if fresh:
        newest = max(account.reauth_completed_at for account in fresh)
        User.objects.filter(pk=user.pk).update(reconnections_seen_at=newest)
        user.reconnections_seen_at = newest
    return fresh
