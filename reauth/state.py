"""The re-auth state rules: the only code that writes a LinkedAccount's re-auth and Mono-data fields.

Webhook handlers, the pages, the API, admin actions, tasks and commands all call these plain
functions. Each rule holds the account row (`select_for_update`, or a conditional UPDATE on the
webhook's hot path) so two deliveries racing on one account apply one after the other, and compares
Mono's timestamps so a late event cannot undo newer state. An unknown account is found before
anything is written and raised as UnknownAccount, leaving the webhook pipeline's transaction usable
(see _with_locked). docs/architecture.md draws the state machine.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import LinkedAccount
from monolink.mono import AccountDetails, Deadline, get_client

log = logging.getLogger(__name__)


class Change(enum.StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # already in that state (e.g. Mono's retry of a flag)
    STALE = "stale"  # older than the state we hold
    IGNORED = "ignored"  # does not apply (e.g. the account is unlinked)


class UnknownAccount(LookupError):
    """No LinkedAccount with this Mono id: the webhook may have beaten the browser's code exchange."""


def locked_account(mono_account_id: str) -> LinkedAccount:
    """The account, row-locked for the caller's transaction; UnknownAccount if we hold none."""
    try:
        return LinkedAccount.objects.select_for_update().get(mono_account_id=mono_account_id)
    except LinkedAccount.DoesNotExist:
        raise UnknownAccount(mono_account_id) from None


_CLEARED_FIELDS = ["reauth_required", "reauth_token_fingerprint", "reauth_token_issued_at", "reauth_submitted_at"]


def _clear_flag(account: LinkedAccount) -> list[str]:
    """No flag, no token (a token outliving its flag is only a liability), not awaiting anything.
    Returns the fields it set, for save(update_fields=...)."""
    account.reauth_required = False
    account.reauth_token_fingerprint = None
    account.reauth_token_issued_at = None
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

    The webhook's hot path, so one conditional UPDATE (flag_statement) does what SELECT … FOR UPDATE
    then UPDATE did, for a new flag and for Mono's repeat of one alike, with the same guarantees:
    PostgreSQL takes the row lock and re-checks the WHERE against the row as committed by whoever
    held it, so a racing re-auth still wins by its timestamp (a late flag must not undo a re-auth).
    A repeat keeps the flag's time and notification and only advances the order guard. Anything
    else (unknown, unlinked, stale) matches no row and falls to the locked path, which says which.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(flag_statement(ordered=occurred_at is not None), flag_params(mono_account_id, occurred_at, now))
        row = cursor.fetchone()
    if row is None:
        return _with_locked(mono_account_id, partial(_flag_locked, occurred_at=occurred_at))
    return flag_change(row[0], now)


def flag_change(requested_at: datetime | str, now: datetime) -> Change:
    """What the flag's UPDATE did, from the `reauth_requested_at` it returned: our `now` in the row
    means this UPDATE raised the flag (the caller queues its email in the same transaction, the
    outbox); an older time means the account was already flagged. NEW_FLAG is the same test in SQL."""
    return Change.APPLIED if _as_utc(requested_at) == now else Change.UNCHANGED


# flag_change() in SQL, over the UPDATE's RETURNING: the webhook's one statement queues the email on it.
NEW_FLAG = "reauth_requested_at = %(flag_now)s"


@functools.cache
def flag_statement(*, ordered: bool, gate: str = "") -> str:
    """The flag's conditional `UPDATE … RETURNING reauth_requested_at`, written once per shape, not
    per delivery (building it through the ORM was a quarter of the webhook's Python time).

    `ordered`: the event has a timestamp, so the order guard applies and advances. `gate`: one more
    SQL condition (the webhook's one statement makes the UPDATE wait on its delivery INSERT). The
    parameters are flag_params(); PostgreSQL and SQLite (3.35+, RETURNING) both run it.
    """
    column = _columns()
    flagged = column["reauth_required"]

    def kept_if_flagged(field: str, new_value: str) -> str:  # a repeat keeps the flag's own fields
        return f"{column[field]} = CASE WHEN {flagged} THEN {column[field]} ELSE {new_value} END"

    assignments = [
        f"{flagged} = TRUE",
        kept_if_flagged("reauth_requested_at", "%(flag_now)s"),
        kept_if_flagged("reauth_submitted_at", "NULL"),
        kept_if_flagged("reauth_notified_at", "NULL"),
        f"{column['updated_at']} = %(flag_now)s",
    ]
    if ordered:  # the order guard: not older than the last event applied, which it then becomes
        assignments.append(f"{column['last_event_at']} = %(flag_occurred)s")
    conditions = _conditions(ordered) + (f" AND {gate}" if gate else "")
    return (
        f"UPDATE {_table()} SET {', '.join(assignments)} WHERE {conditions} "  # noqa: S608 (no input)
        f"RETURNING {column['reauth_requested_at']}"
    )


@functools.cache
def flag_matches(*, ordered: bool) -> str:
    """`EXISTS (…)`: is there a row flag_statement would update (flag_params(); the account, still
    linked and, `ordered`, not newer than the event)? The webhook's one statement asks before it
    writes its delivery."""
    return f"EXISTS (SELECT 1 FROM {_table()} WHERE {_conditions(ordered)})"  # noqa: S608 (no input)


def _conditions(ordered: bool) -> str:
    column = _columns()
    conditions = [f"{column['mono_account_id']} = %(flag_account)s", f"{column['unlinked_at']} IS NULL"]
    if ordered:
        last = column["last_event_at"]
        conditions.append(f"({last} IS NULL OR {last} <= %(flag_occurred)s)")
    return " AND ".join(conditions)


def _columns() -> dict[str, str]:
    return {f.name: connection.ops.quote_name(f.column) for f in LinkedAccount._meta.concrete_fields}


def _table() -> str:
    return connection.ops.quote_name(LinkedAccount._meta.db_table)


def flag_params(mono_account_id: str, occurred_at: datetime | None, now: datetime) -> dict:
    adapt = connection.ops.adapt_datetimefield_value
    params = {"flag_account": mono_account_id, "flag_now": adapt(now)}
    if occurred_at is not None:
        params["flag_occurred"] = adapt(occurred_at)
    return params


def _as_utc(value: datetime | str) -> datetime:
    """A timestamp read by a raw cursor: aware on PostgreSQL, naive UTC (or text) on SQLite."""
    value = parse_datetime(value) if isinstance(value, str) else value
    return value.replace(tzinfo=UTC) if timezone.is_naive(value) else value


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
    copied = copy_details(account, details)
    account.save(update_fields=[*copied, "details_as_of", "updated_at"])
    return Change.APPLIED


def copy_details(account: LinkedAccount, details: AccountDetails) -> list[str]:
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
    """Ask Mono for the account's details (outside any transaction: a network call) and store them.

    IGNORED for an account unlinked or deleted since the refresh was asked for (Mono would only
    answer 404): the webhook is a hint, the API is the truth, and only for accounts we still hold.
    """
    if not LinkedAccount.objects.linked().filter(mono_account_id=mono_account_id).exists():
        return Change.IGNORED
    details = get_client().get_account(mono_account_id, deadline=deadline)
    try:
        return apply_account_update(mono_account_id=mono_account_id, details=details, occurred_at=None)
    except UnknownAccount:
        return Change.IGNORED  # deleted between the check and the update


@transaction.atomic
def clear_reauth_flag(*, mono_account_id: str, reason: str) -> Change:
    """Staff override. The reason goes to the log line (and, from the admin, to Django's admin log)."""
    account = locked_account(mono_account_id)
    if not account.reauth_required:
        return Change.UNCHANGED
    cleared = _clear_flag(account)
    account.reauth_completed_at = timezone.now()
    account.save(update_fields=[*cleared, "reauth_completed_at", "updated_at"])
    log.info("re-auth flag cleared by staff account=%s reason=%r", account.pk, reason)
    return Change.APPLIED


@transaction.atomic
def mark_details_requested(*, mono_account_ids: list[str], now: datetime) -> int:
    """The reconciler queued a refresh for these accounts: they are not due again for a day."""
    return LinkedAccount.objects.filter(mono_account_id__in=mono_account_ids).update(details_checked_at=now)
