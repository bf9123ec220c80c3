"""Mono-shaped webhook payloads (docs/mono.md, Mono's events), for the sandbox and `mono_trigger`.

Webhooks keep Mono's v1 field names even for v2 accounts, and the account id sits in a different
place per event: `data.id` (account_connected), `data.account.id` (account_unlinked) and
`data.account._id` (the rest). Each payload carries a unique `event_id` and an ISO `timestamp`, as
Mono's newer payloads do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.utils import timezone

from . import events
from .events import PREFIX
from .types import AccountDetails


def _envelope(event: str, data: dict, *, occurred_at: datetime | None = None) -> dict:
    when = (occurred_at or timezone.now()).astimezone(UTC)
    return {
        "event": event,
        "event_id": str(uuid.uuid4()),
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": data,
    }


def _details(account_id: str, details: AccountDetails | None) -> AccountDetails:
    if details is not None:
        return details
    from .sandbox import sandbox_details

    return sandbox_details(account_id)


def v1_account(details: AccountDetails) -> dict:
    return {
        "_id": details.account_id,
        "name": details.name,
        "accountNumber": details.account_number,
        "currency": details.currency,
        "balance": details.balance,
        "type": details.type,
        "institution": {
            "name": details.institution.name,
            "bankCode": details.institution.bank_code,
            "type": details.institution.type,
        },
    }


def account_connected(account_id: str, **kw) -> dict:
    return _envelope(events.CONNECTED, {"id": account_id, "customer": None}, **kw)


def reauthorisation_required(account_id: str, **kw) -> dict:
    return _envelope(events.REAUTHORISATION_REQUIRED, {"account": {"_id": account_id}}, **kw)


def account_reauthorized(account_id: str, **kw) -> dict:
    return _envelope(events.REAUTHORIZED, {"account": {"_id": account_id}}, **kw)


def account_updated(
    account_id: str,
    *,
    details: AccountDetails | None = None,
    data_status: str | None = None,
    sync_status: str | None = None,
    **kw,
) -> dict:
    details = _details(account_id, details)
    meta = {"data_status": data_status or details.data_status or "AVAILABLE", "auth_method": details.auth_method}
    if sync_status:  # real-time syncs add it; REAUTHORISATION_REQUIRED means "flag the account"
        meta["sync_status"] = sync_status
    return _envelope(events.UPDATED, {"meta": meta, "account": v1_account(details)}, **kw)


def sync_failed(account_id: str, **kw) -> dict:
    return _envelope(events.SYNC_FAILED, {"account": {"_id": account_id}, "meta": {"data_status": "FAILED"}}, **kw)


def account_unlinked(account_id: str, **kw) -> dict:
    return _envelope(events.UNLINKED, {"account": {"id": account_id}}, **kw)


BUILDERS: dict[str, Callable[..., dict]] = {
    events.short(events.CONNECTED): account_connected,
    events.short(events.REAUTHORISATION_REQUIRED): reauthorisation_required,
    events.short(events.REAUTHORIZED): account_reauthorized,
    events.short(events.UPDATED): account_updated,
    events.short(events.SYNC_FAILED): sync_failed,
    events.short(events.UNLINKED): account_unlinked,
}


def short_name(event: str) -> str:
    """'reauthorisation_required' or 'mono.events.reauthorisation_required' → the short name.

    Raises KeyError naming the supported events otherwise.
    """
    name = event.strip()
    name = name.removeprefix(PREFIX)
    if name not in BUILDERS:
        raise KeyError(f"Unknown event {event!r}. Supported: {', '.join(BUILDERS)} (or with the {PREFIX} prefix).")
    return name


def build(event: str, account_id: str, **kw) -> dict:
    return BUILDERS[short_name(event)](account_id, **kw)
