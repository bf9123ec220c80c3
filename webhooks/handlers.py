"""Dispatch: one handler per Mono event name. Handlers only translate an event into accounts.rules calls.

Each handler takes the typed event and the `occurred_at` to order it by (Mono's timestamp, or when we
first received the delivery) and returns what the rule did. A rule raising `UnknownAccount` makes
the delivery `unmatched`; any other exception rolls the handler back and fails the delivery.

Follow-up work (email, a refresh from Mono's API) is queued here, inside the pipeline's transaction:
with Procrastinate the job commits with the state change or not at all (an outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from accounts import rules, tasks
from accounts.models import LinkedAccount

from . import events

log = logging.getLogger(__name__)

Handler = Callable[[events.Event, datetime | None], str]


def _require_account(mono_account_id: str) -> None:
    """For events with no state to change: still tell an unknown account apart (it gets replayed on link)."""
    if not LinkedAccount.objects.filter(mono_account_id=mono_account_id).exists():
        raise rules.UnknownAccount(mono_account_id)


def account_connected(event: events.AccountConnected, occurred_at: datetime | None) -> str:
    # Usually beats the browser's code exchange (then unmatched, replayed by link_account); for an
    # account we already hold there is nothing to change: the link flow stored its details.
    _require_account(event.account_id)
    return rules.Change.UNCHANGED


def _flag(mono_account_id: str, occurred_at: datetime | None) -> rules.Change:
    change = rules.flag_for_reauth(mono_account_id=mono_account_id, occurred_at=occurred_at)
    if change == rules.Change.APPLIED:  # a new flag, not Mono's retry of one: tell the user once
        tasks.queue_reauth_email(mono_account_id=mono_account_id)
    return change


def reauthorisation_required(event: events.ReauthorisationRequired, occurred_at: datetime | None) -> str:
    return _flag(event.account_id, occurred_at)


def account_reauthorized(event: events.AccountReauthorized, occurred_at: datetime | None) -> str:
    change = rules.mark_reauthorised(mono_account_id=event.account_id, occurred_at=occurred_at)
    if change in (rules.Change.APPLIED, rules.Change.UNCHANGED):
        tasks.queue_refresh(mono_account_id=event.account_id)  # the webhook is a hint; the API is the truth
    return change


def account_updated(event: events.AccountUpdated, occurred_at: datetime | None) -> str:
    change = rules.apply_account_update(
        mono_account_id=event.account_id, details=event.details, occurred_at=occurred_at
    )
    tasks.queue_refresh(mono_account_id=event.account_id)  # the webhook is a hint; the API is the truth
    if event.requires_reauthorisation:
        # A real-time sync that hit MFA: Mono's sync_status says what reauthorisation_required says.
        flagged = _flag(event.account_id, occurred_at)
        return f"details {change}, flag {flagged}"
    return change


def sync_failed(event: events.SyncFailed, occurred_at: datetime | None) -> str:
    # No state rule for it: Mono retries syncs itself and flags MFA separately. Kept for staff.
    _require_account(event.account_id)
    log.info("mono sync failed account=%s", event.account_id)
    return rules.Change.UNCHANGED


def account_unlinked(event: events.AccountUnlinked, occurred_at: datetime | None) -> str:
    return rules.mark_unlinked(mono_account_id=event.account_id, occurred_at=occurred_at)


HANDLERS: dict[str, Handler] = {
    events.CONNECTED: account_connected,
    events.REAUTHORISATION_REQUIRED: reauthorisation_required,
    events.REAUTHORIZED: account_reauthorized,
    events.UPDATED: account_updated,
    events.SYNC_FAILED: sync_failed,
    events.UNLINKED: account_unlinked,
}
