"""Dispatch: one handler per Mono event name. Handlers only translate an event into reauth.state calls.

Each handler takes the typed event and the `occurred_at` to order it by (Mono's timestamp, or when we
first received the delivery) and returns a `Handled`: each rule it ran and that rule's `Change`. A
rule raising `UnknownAccount` makes the delivery `unmatched`; any other exception rolls the handler
back and fails the delivery.

Follow-up work (email, a refresh from Mono's API) is queued here, inside the pipeline's transaction:
with Procrastinate the job commits with the state change or not at all (an outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from accounts.models import LinkedAccount
from monolink.mono import events as names
from notifications.tasks import queue_reauth_email
from reauth import state
from reauth.tasks import queue_refresh

from . import parsing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handled:
    """What a handler did: the rules it ran, in order, each with its Change."""

    changes: tuple[tuple[str, state.Change], ...]

    def __str__(self) -> str:
        if len(self.changes) == 1:
            return str(self.changes[0][1])  # "applied": the event says which rule
        return ", ".join(f"{what} {change}" for what, change in self.changes)


def _one(what: str, change: state.Change) -> Handled:
    return Handled(((what, change),))


Handler = Callable[[parsing.Event, datetime | None], Handled]


def _require_account(mono_account_id: str) -> None:
    """For events with no state to change: still tell an unknown account apart (it gets replayed on link)."""
    if not LinkedAccount.objects.filter(mono_account_id=mono_account_id).exists():
        raise state.UnknownAccount(mono_account_id)


def account_connected(event: parsing.AccountConnected, occurred_at: datetime | None) -> Handled:
    # Usually beats the browser's code exchange (then unmatched, replayed on link); for an account
    # we already hold there is nothing to change: the link flow stored its details.
    _require_account(event.account_id)
    return _one("link", state.Change.UNCHANGED)


def _flag(mono_account_id: str, occurred_at: datetime | None) -> state.Change:
    change = state.flag_for_reauth(mono_account_id=mono_account_id, occurred_at=occurred_at)
    return _email_if_new(change, mono_account_id)


def _email_if_new(change: state.Change, mono_account_id: str) -> state.Change:
    if change == state.Change.APPLIED:  # a new flag, not Mono's retry of one: tell the user once
        queue_reauth_email(mono_account_id=mono_account_id)
    return change


def reauthorisation_required(event: parsing.ReauthorisationRequired, occurred_at: datetime | None) -> Handled:
    return _one("flag", _flag(event.account_id, occurred_at))


def reauthorisation_required_flagged(change: state.Change) -> Handled:
    """reauthorisation_required once webhooks.store's one statement has run the flag's UPDATE and
    queued its email: what the handler would have answered."""
    return _one("flag", change)


def account_reauthorized(event: parsing.AccountReauthorized, occurred_at: datetime | None) -> Handled:
    change = state.mark_reauthorised(mono_account_id=event.account_id, occurred_at=occurred_at)
    if change in (state.Change.APPLIED, state.Change.UNCHANGED):
        queue_refresh(mono_account_id=event.account_id)  # the webhook is a hint; the API is the truth
    return _one("flag cleared", change)


def account_updated(event: parsing.AccountUpdated, occurred_at: datetime | None) -> Handled:
    change = state.apply_account_update(
        mono_account_id=event.account_id, details=event.details, occurred_at=occurred_at
    )
    queue_refresh(mono_account_id=event.account_id)  # the webhook is a hint; the API is the truth
    if event.requires_reauthorisation:
        # A real-time sync that hit MFA: Mono's sync_status says what reauthorisation_required says.
        return Handled((("details", change), ("flag", _flag(event.account_id, occurred_at))))
    return _one("details", change)


def sync_failed(event: parsing.SyncFailed, occurred_at: datetime | None) -> Handled:
    # No state rule for it: Mono retries syncs itself and flags MFA separately. Kept for staff.
    _require_account(event.account_id)
    log.info("mono sync failed account=%s", event.account_id)
    return _one("sync", state.Change.UNCHANGED)


def account_unlinked(event: parsing.AccountUnlinked, occurred_at: datetime | None) -> Handled:
    return _one("unlink", state.mark_unlinked(mono_account_id=event.account_id, occurred_at=occurred_at))


HANDLERS: dict[str, Handler] = {
    names.CONNECTED: account_connected,
    names.REAUTHORISATION_REQUIRED: reauthorisation_required,
    names.REAUTHORIZED: account_reauthorized,
    names.UPDATED: account_updated,
    names.SYNC_FAILED: sync_failed,
    names.UNLINKED: account_unlinked,
}
