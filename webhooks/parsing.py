"""Mono's webhook payloads as typed events: one small frozen dataclass per event kind.

`parse_event(payload)` is tolerant of the variations Mono actually sends (docs/mono.md, Mono's events):
envelopes with or without `event_id`/`timestamp`, timestamps as ISO strings or epoch seconds or
milliseconds, the account id at `data.account._id`, `data.account.id` or `data.id`, `data_status`
in any case. What it cannot make sense of raises `InvalidPayload` with a message saying what is wrong.

`decode(body)` turns the raw bytes into JSON once, with a nesting limit; the HTTP parser and the replay
of a stored body both use it. Every length and range check happens here too, against the columns the
values end up in, so a payload that would not fit is refused as `invalid` before anything is written
(a DataError on PostgreSQL would be a 500, and Mono would retry the poison payload forever): a lone
surrogate ("\ud800") in a stored id or name, a timestamp that is no date in UTC. A timestamp more than
FUTURE_ALLOWANCE ahead of the delivery's arrival is dropped, so arrival orders that event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import LinkedAccount
from monolink.mono import AccountDetails
from monolink.mono.events import CONNECTED, REAUTHORISATION_REQUIRED, REAUTHORIZED, SYNC_FAILED, UNLINKED, UPDATED
from monolink.mono.types import details_from_mono

# Column sizes on WebhookEvent / LinkedAccount: longer values are not Mono's and would not fit.
MAX_EVENT_NAME = 128
MAX_ACCOUNT_ID = 64
MAX_EVENT_ID = 120
# Mono's payloads nest four levels deep; Python's json recurses once per level and hits its
# recursion limit near 1,000 (a RecursionError, i.e. a 500), and the admin pretty-prints the body.
MAX_JSON_DEPTH = 32
# LinkedAccount.balance is a 64-bit integer (PostgreSQL bigint): anything outside is not a balance.
_BIGINT = 2**63
# Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000
_NUMERIC = re.compile(r"^\d+(\.\d+)?$")
# "\ud800" is valid JSON but not text: UTF-8 (so PostgreSQL, SQLite, a page) cannot encode a lone
# surrogate, and the INSERT would fail. json.loads joins valid pairs, so any left is lone.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Mono's clock may run a little ahead of ours; a timestamp further ahead is not trusted for ordering
# (a flag dated 2099 would make every later real event "stale"): the delivery is ordered by arrival.
FUTURE_ALLOWANCE = timedelta(minutes=5)


class InvalidPayload(ValueError):
    """The payload cannot be handled; the message says why and is safe to show (no secrets in it).

    `storable` is False when the body is not even a JSON object: nothing worth keeping for staff.
    """

    def __init__(
        self, message: str, *, storable: bool = True, event: str = "", event_id: str = "", too_large: bool = False
    ):
        super().__init__(message)
        self.storable = storable
        self.event = event
        self.event_id = event_id
        self.too_large = too_large  # answered 413, not 400


@dataclass(frozen=True)
class Event:
    name: str
    event_id: str | None
    occurred_at: datetime | None  # Mono's timestamp; None for older payloads
    payload: dict = field(compare=False, repr=False)


@dataclass(frozen=True)
class AccountEvent(Event):
    account_id: str


@dataclass(frozen=True)
class AccountConnected(AccountEvent):
    pass


@dataclass(frozen=True)
class ReauthorisationRequired(AccountEvent):
    pass


@dataclass(frozen=True)
class AccountReauthorized(AccountEvent):
    pass


@dataclass(frozen=True)
class AccountUpdated(AccountEvent):
    details: AccountDetails
    sync_status: str = ""  # upper-cased; real-time syncs may say REAUTHORISATION_REQUIRED

    @property
    def requires_reauthorisation(self) -> bool:
        return self.sync_status == "REAUTHORISATION_REQUIRED"


@dataclass(frozen=True)
class SyncFailed(AccountEvent):
    pass


@dataclass(frozen=True)
class AccountUnlinked(AccountEvent):
    pass


@dataclass(frozen=True)
class Unknown(Event):
    """An event name we do not handle: stored and acknowledged, nothing else."""

    account_id: str = ""


_KINDS: dict[str, type[AccountEvent]] = {
    CONNECTED: AccountConnected,
    REAUTHORISATION_REQUIRED: ReauthorisationRequired,
    REAUTHORIZED: AccountReauthorized,
    UPDATED: AccountUpdated,
    SYNC_FAILED: SyncFailed,
    UNLINKED: AccountUnlinked,
}


def parse_event(payload: Any, *, received_at: datetime | None = None) -> Event:
    """Turn a decoded JSON payload into a typed event, or raise InvalidPayload saying what is wrong.

    `received_at` (default: now) is when the delivery arrived: a timestamp more than
    FUTURE_ALLOWANCE after it is dropped (occurred_at None), so the arrival orders the event."""
    if not isinstance(payload, dict):
        raise InvalidPayload(f"Expected a JSON object, got a JSON {_json_type(payload)}.", storable=False)
    name = payload.get("event")
    if not isinstance(name, str) or not name.strip():
        raise InvalidPayload("Missing 'event': expected the event name as a string.")
    name = name.strip()
    if len(name) > MAX_EVENT_NAME or "\x00" in name:
        raise InvalidPayload(f"'event' is not an event name (longer than {MAX_EVENT_NAME} characters).")
    if not is_text(name):
        raise InvalidPayload(_SURROGATE_MESSAGE.format(where="'event'"))
    event_id = _event_id(payload, name)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidPayload("Missing 'data': expected a JSON object.", event=name, event_id=event_id or "")
    occurred_at = _timestamp(payload.get("timestamp"), name, event_id)
    if occurred_at is not None and occurred_at > (received_at or timezone.now()) + FUTURE_ALLOWANCE:
        occurred_at = None

    kind = _KINDS.get(name)
    if kind is None:
        return Unknown(name=name, event_id=event_id, occurred_at=occurred_at, payload=payload)
    account_id = _account_id(data, prefer_top_level=kind is AccountConnected, name=name, event_id=event_id)
    if account_id is None:
        where = "data.id" if kind is AccountConnected else "data.account._id"
        raise InvalidPayload(
            f"{name} carries no account id (expected at {where}).", event=name, event_id=event_id or ""
        )
    common = {
        "name": name,
        "event_id": event_id,
        "occurred_at": occurred_at,
        "payload": payload,
        "account_id": account_id,
    }
    if kind is AccountUpdated:
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        details = _details(account_id, data.get("account"), meta, name, event_id)
        return AccountUpdated(**common, details=details, sync_status=_text(meta.get("sync_status")).upper())
    return kind(**common)


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), "null")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


_SURROGATE_MESSAGE = "{where} holds a lone UTF-16 surrogate (\\ud800-\\udfff): not text."


def is_text(value: str) -> bool:
    """True unless `value` holds a lone surrogate, which no column or page can encode."""
    return not _LONE_SURROGATE.search(value)


def _event_id(payload: dict, name: str) -> str | None:
    value = payload.get("event_id")
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_EVENT_ID or "\x00" in value:
        raise InvalidPayload(f"'event_id' must be a string of at most {MAX_EVENT_ID} characters.", event=name)
    if not is_text(value):
        raise InvalidPayload(_SURROGATE_MESSAGE.format(where="'event_id'"), event=name)
    return value.strip() or None


def _timestamp(value: Any, name: str, event_id: str | None) -> datetime | None:
    """Mono's `timestamp`: ISO 8601, or epoch seconds or milliseconds (number or numeric string)."""
    if value is None or value == "":
        return None
    parsed: datetime | None = None
    if isinstance(value, str) and _NUMERIC.match(value.strip()):
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > _EPOCH_MS_THRESHOLD else value
        try:
            parsed = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            parsed = None
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # Mono's clock is UTC
    if parsed is not None:
        try:
            # Year 1 in +01:00, or 9999-12-31T23:59:59-01:00, is no date in UTC: stored as year 10000
            # it would break every later read of the row (the admin's list answered 500).
            parsed = parsed.astimezone(UTC)
        except OverflowError:
            parsed = None
    if parsed is None:
        # Ordering depends on it: guessing would let a late event undo newer state.
        raise InvalidPayload(
            "'timestamp' is not a date between the years 1 and 9999 in UTC "
            "(expected ISO 8601 or epoch seconds/milliseconds).",
            event=name,
            event_id=event_id or "",
        )
    return parsed


def _account_id(data: dict, *, prefer_top_level: bool, name: str, event_id: str | None) -> str | None:
    """The account id wherever this payload keeps it (Mono's docs disagree; see docs/mono.md)."""
    account = data.get("account")
    nested = [("data.account", account)] if isinstance(account, str) else []  # the id itself, sometimes
    if isinstance(account, dict):
        nested = [("data.account._id", account.get("_id")), ("data.account.id", account.get("id"))]
    top = [("data.id", data.get("id"))]
    for where, value in [*top, *nested] if prefer_top_level else [*nested, *top]:
        if isinstance(value, str) and not is_text(value):
            raise InvalidPayload(_SURROGATE_MESSAGE.format(where=f"'{where}'"), event=name, event_id=event_id or "")
        if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_ACCOUNT_ID and "\x00" not in value:
            return value.strip()
    return None


# Where each AccountDetails value is stored (the column bounds its length) and where Mono sends it.
_DETAIL_COLUMNS = {
    "name": ("account_name", "data.account.name"),
    "account_number_masked": ("account_number_masked", "data.account.accountNumber"),
    "currency": ("currency", "data.account.currency"),
    "type": ("account_type", "data.account.type"),
    "data_status": ("data_status", "data.meta.data_status"),
    "auth_method": ("auth_method", "data.meta.auth_method"),
}
_INSTITUTION_COLUMNS = {
    "name": ("institution_name", "data.account.institution.name"),
    "bank_code": ("institution_bank_code", "data.account.institution.bankCode"),
    "type": ("institution_type", "data.account.institution.type"),
}


def _details(account_id: str, account: Any, meta: dict, name: str, event_id: str | None) -> AccountDetails:
    """account_updated's data.account (v1 names; v2 snake_case tolerated) and data.meta, checked
    against the columns they are stored in."""

    def invalid(message: str) -> InvalidPayload:
        return InvalidPayload(message, event=name, event_id=event_id or "")

    try:
        details = details_from_mono(account_id=account_id, account=account, meta=meta)
    except ValueError:
        raise invalid("'data.account.balance' must be an integer in minor units.") from None
    if details.balance is not None and not -_BIGINT <= details.balance < _BIGINT:
        raise invalid("'data.account.balance' is out of range for a balance in minor units.")
    checks = [(getattr(details, attr), *where) for attr, where in _DETAIL_COLUMNS.items()]
    checks += [(getattr(details.institution, attr), *where) for attr, where in _INSTITUTION_COLUMNS.items()]
    for value, column, path in checks:
        limit = LinkedAccount._meta.get_field(column).max_length
        if len(value) > limit:
            raise invalid(f"'{path}' is longer than {limit} characters.")
    return details


def body_too_large(limit: int) -> str:
    return f"Body too large: the limit is {limit} bytes."


def decode(body: bytes) -> Any:
    """The body as JSON, or InvalidPayload (not storable: there is no event in it for staff)."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if len(body) > limit:
        raise InvalidPayload(body_too_large(limit), storable=False, too_large=True)
    if not body.strip():
        raise InvalidPayload("Empty body: expected a JSON object.", storable=False)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("Body is not UTF-8 text.", storable=False) from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise InvalidPayload(f"Body is nested deeper than {MAX_JSON_DEPTH} levels.", storable=False)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"Body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).", storable=False
        ) from None


# A JSON string (skipped whole, so brackets inside it do not count) or one bracket.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _depth(text: str) -> int:
    """The deepest bracket nesting in `text`, without recursing (json has no depth option).

    Only brackets and strings reach the Python loop; the regex runs in C. Malformed input is left to
    json.loads, which names the problem."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        first = match[0][0]  # '"' for a whole string, else the bracket
        if first in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif first in "]}":
            depth -= 1
    return deepest
