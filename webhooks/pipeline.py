"""The one path every Mono delivery takes, read top to bottom:

    HTTP view (Mono's delivery and its retries) ── receive() ── store it, or find the stored copy ──┐
    admin Reprocess, `replay_webhooks` ──────────── reprocess() ─ the stored row ────────────────────┤
    an account linked (webhooks.tasks) ──────────── replay_unmatched() ─ its parked rows ────────────┤
                                                                                                      v
    process(): one transaction { hold the stored delivery (locked) → re-check its status →
                                 run the handler → record the outcome }; a fault is recorded apart.

Decisions, each guarding against something Mono does (docs/mono.md, docs/architecture.md):

- A new delivery is stored by `INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id` inside
  the processing transaction: the insert is the lock (a concurrent copy's INSERT waits on the unique
  index until we commit, then finds the key taken) and a duplicate is told apart without an error in
  PostgreSQL's log. The row is written once, with the status a handled event ends in; the outcome is
  written again only when it differs (an unknown account). On PostgreSQL with Procrastinate a new
  flag's INSERT, its UPDATE and its email job are one statement committed on its own (webhooks.store);
  what it leaves (a duplicate, a delivery no account matched) takes the general path.
- A stored delivery (Mono's retry, a replay, staff) is locked with `select_for_update` and its status
  re-checked, so racing retries run the handler once. Duplicates of handled rows are read-only
  (`attempts` counts times the handler ran).
- A handler fault rolls back the handler *and* whatever the transaction wrote; the failure is then
  recorded in a transaction of its own (error + traceback, status `failed`) and answered 500, so
  Mono's retry finds a `failed` row and runs it again.
- Events are ordered by Mono's `timestamp` (unless over 5 minutes ahead of arrival: see events.py),
  else by when we first received them (`received_at`): arrival order is all older payloads give us,
  and storing it lets a later reprocess of an old timestamp-less delivery be recognised as stale.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from monolink import log_context, taskqueue
from reauth.state import UnknownAccount

from . import store
from .handlers import HANDLERS, reauthorisation_required_flagged
from .models import WebhookEvent
from .outcomes import Held, Outcome
from .parsing import Event, InvalidPayload, decode, parse_event

log = logging.getLogger(__name__)

Status = WebhookEvent.Status
# A stored delivery in one of these is run again when it arrives again: `failed` is Mono's retry;
# `unmatched` may have been linked meanwhile; `received` is a row whose processing never finished.
RETRYABLE = frozenset({Status.FAILED, Status.RECEIVED, Status.UNMATCHED})
_ERROR_LIMIT = 2000
UNMATCHED_DETAIL = "Unmatched: no linked account with this id yet; replayed when it is linked."


# --- entry points ----------------------------------------------------------------------------------


_NOT_DECODED: Any = object()


def receive(*, body: bytes, headers: Mapping[str, str], remote_ip: str | None, payload: Any = _NOT_DECODED) -> Outcome:
    """Mono's delivery, first or retried. The caller has checked the webhook secret.

    `payload` is the body as the HTTP parser already decoded it (webhooks.parsers); without it the
    body is decoded here, by the same function with the same limits: either way, once.
    """
    stored_headers = store.redact_headers(headers)
    try:
        event = parse_event(decode(body) if payload is _NOT_DECODED else payload)
    except InvalidPayload as exc:
        return _reject(exc, body=body, headers=stored_headers, remote_ip=remote_ip)
    row = WebhookEvent(
        event=event.name,
        mono_account_id=getattr(event, "account_id", ""),
        event_id=event.event_id or "",
        dedupe_key=store.dedupe_key(event_id=event.event_id, body=body),
        occurred_at=event.occurred_at,
        body=body.decode("utf-8"),
        headers=stored_headers,
        remote_ip=remote_ip,
        # The status a delivery of this event ends in; written again only if the outcome differs.
        status=Status.PROCESSED if event.name in HANDLERS else Status.IGNORED,
        attempts=1,
        processed_at=timezone.now(),
    )
    if store.one_statement_applies(event, HANDLERS.get(event.name)):
        return _in_one_statement(row, event)
    return process(partial(_insert_or_find, row, event), only_if=RETRYABLE)


def _in_one_statement(row: WebhookEvent, event: Event) -> Outcome:
    """A new flag in webhooks.store's one statement, committed on its own. The general path takes what
    it leaves: a taken key (a handled row is only read) and a `received` row (the handler says why)."""
    try:
        row.pk, flagged = store.insert_and_flag(row, event)
    except Exception as exc:  # one statement: nothing was written
        return _record_failure(None, exc)
    if row.pk is None:
        stored = WebhookEvent.objects.filter(dedupe_key=row.dedupe_key).first()
        if stored is not None and stored.status not in RETRYABLE:
            return _duplicate(stored)
        return process(partial(_find, row.dedupe_key), only_if=RETRYABLE)
    row.status = flagged.status
    if flagged.change is None:
        return process(partial(_hold_apart, row, event), only_if=RETRYABLE)
    log_context.bind(delivery=row.pk, mono_event_id=row.event_id)
    jobs = () if flagged.job is None else (flagged.job,)
    _log(outcome := Outcome(200, f"Processed: {reauthorisation_required_flagged(flagged.change)}.", row, jobs=jobs))
    return outcome


def reprocess(row: WebhookEvent) -> Outcome:
    """Run a stored delivery again, whatever its status (staff or `replay_webhooks` asked for it).

    Safe on a processed row: the rules are idempotent and order-safe, so a repeat is `unchanged` or
    `stale`, which the detail reports.
    """
    return process(partial(_lock, row.pk), only_if=None)


def replay_unmatched(*, mono_account_id: str) -> int:
    """Run the account's `unmatched` deliveries again, oldest first; return how many ran.

    Queued when an account is linked (webhooks.tasks): Mono's webhooks can beat the browser's code
    exchange, and those deliveries were parked rather than lost.
    """
    pks = list(
        WebhookEvent.objects.filter(mono_account_id=mono_account_id, status=Status.UNMATCHED)
        .order_by("received_at", "id")
        .values_list("pk", flat=True)
    )
    replayed = sum(not process(partial(_lock, pk), only_if={Status.UNMATCHED}).duplicate for pk in pks)
    if pks:
        log.info("replayed %d unmatched webhook(s) account=%s", replayed, mono_account_id)
    return replayed


# --- the one path ----------------------------------------------------------------------------------


def process(hold: Callable[[], Held | None], *, only_if: frozenset[str] | set[str] | None) -> Outcome:
    """Hold a stored delivery, re-check its status, run its handler and record the outcome, in one
    transaction; record a fault apart and answer 500 so Mono retries.

    `hold` stores or locks the delivery inside this transaction. `only_if` names the statuses a
    stored row must still be in once locked (None: any, for staff); a row inserted by `hold` is new.
    """
    held: Held | None = None
    committed: list[bool] = []
    outcome: Outcome | None = None
    try:
        with taskqueue.collecting_job_ids() as jobs, transaction.atomic():
            held = hold()
            if held is None:  # deleted while we looked: only a racing delete does that; let Mono retry
                return Outcome(503, "Delivery state changed while answering; please retry.")
            if not held.inserted and only_if is not None and held.row.status not in only_if:
                return _duplicate(held.row)
            # Registered before the handler's follow-ups, so it runs first after commit: it tells a
            # failing follow-up after commit apart from a handler fault before it.
            transaction.on_commit(lambda: committed.append(True))
            outcome = _run(held)
        outcome = replace(outcome, jobs=tuple(jobs))
    except Exception as exc:
        if committed and outcome is not None:
            # The effect is committed; only a follow-up failed. A 500 would make Mono retry an event
            # we already applied.
            log.error("webhook follow-up after commit failed row=%s error=%s", outcome.delivery.pk, exc)
            return outcome
        return _record_failure(held, exc)
    _log(outcome)
    return outcome


def _run(held: Held) -> Outcome:
    """Inside process()'s transaction: run the handler and record its outcome on the row."""
    row, previous = held.row, held.row.status
    event = held.event
    if event is None:  # a stored body: parsed again the way it was first parsed
        try:
            event = parse_event(decode(row.body.encode("utf-8")), received_at=row.received_at)
        except InvalidPayload as exc:
            _record(held, Status.INVALID, error=str(exc))
            return Outcome(400, f"Was {previous}. {exc}", row)
        row.event, row.occurred_at = event.name, event.occurred_at
        row.mono_account_id = getattr(event, "account_id", "")
    handler = HANDLERS.get(event.name)
    log_context.bind(delivery=row.pk, mono_event_id=row.event_id)  # on the handler's and rules' lines too
    if handler is None:
        status, detail = Status.IGNORED, "Ignored: not an event we act on."
    else:
        try:
            result = handler(event, event.occurred_at or row.received_at)
        except UnknownAccount:
            # The rule wrote nothing; the row waits for the account to be linked.
            status, detail = Status.UNMATCHED, UNMATCHED_DETAIL
        else:
            status, detail = Status.PROCESSED, f"Processed: {result}."
    _record(held, status)
    return Outcome(200, detail if held.inserted else f"Was {previous}. {detail}", row)


def _record(held: Held, status: str, *, error: str = "") -> None:
    """Write the outcome: for a row nothing had run (`inserted`), only what differs from its insert."""
    row, written = held.row, held.row.status
    row.status, row.error, row.traceback = status, error, ""
    row.processed_at = timezone.now() if status in (Status.PROCESSED, Status.IGNORED) else None
    if held.inserted:
        if status != written:
            row.save(update_fields=["status", "error", "processed_at", "updated_at"])
        return
    row.attempts += 1
    row.save(
        update_fields=[
            *("event", "mono_account_id", "occurred_at", "status", "attempts"),
            *("error", "traceback", "processed_at", "updated_at"),
        ]
    )


def _duplicate(row: WebhookEvent) -> Outcome:
    if row.status == Status.INVALID:
        outcome = Outcome(400, row.error or "Invalid payload.", row, duplicate=True)
    else:
        outcome = Outcome(200, f"Duplicate of delivery #{row.pk} ({row.status}): nothing done.", row, duplicate=True)
    _log(outcome)
    return outcome


def _record_failure(held: Held | None, exc: Exception) -> Outcome:
    """Outside the rolled-back transaction: keep the error for staff and for Mono's retry."""
    error = _scrub(f"{type(exc).__name__}: {exc}")[:_ERROR_LIMIT]
    trace = _scrub(traceback.format_exc())
    row = held.row if held else None
    log.error("webhook delivery failed row=%s event=%s: %s", row and row.pk, row and row.event, trace)
    if row is None:  # storing or locking it failed: nothing to keep it on
        return Outcome(500, f"Processing failed ({type(exc).__name__}); please retry.")
    if held.inserted and not held.apart:  # its INSERT rolled back with the handler: store it again, as failed
        row.pk, row.status, row.error, row.traceback, row.processed_at = None, Status.FAILED, error, trace, None
        row.pk = store.insert_unless_taken(row)
        if row.pk is None:  # a racing copy took the key meanwhile; its row tells the story
            row = WebhookEvent.objects.filter(dedupe_key=row.dedupe_key).first()
    else:
        WebhookEvent.objects.filter(pk=row.pk).update(
            status=Status.FAILED,
            attempts=F("attempts") + 1,
            error=error,
            traceback=trace,
            processed_at=None,
            updated_at=timezone.now(),
        )
        row = WebhookEvent.objects.filter(pk=row.pk).first()
    return Outcome(500, f"Processing failed ({type(exc).__name__}); kept for a retry.", row)


# --- holding a stored delivery ---------------------------------------------------------------------


def _insert_or_find(row: WebhookEvent, event: Event) -> Held | None:
    """Store a new delivery, or hold the stored copy of its dedupe key (Mono's retry, a racing copy)."""
    row.pk = store.insert_unless_taken(row)
    if row.pk is not None:
        return Held(row, inserted=True, event=event)
    return _find(row.dedupe_key)


def _find(dedupe_key: str) -> Held | None:
    stored = WebhookEvent.objects.filter(dedupe_key=dedupe_key).first()
    if stored is not None and stored.status in RETRYABLE:
        return _lock(stored.pk)  # a duplicate of a handled row is only read: no lock to queue behind
    return Held(stored, inserted=False) if stored is not None else None


def _hold_apart(row: WebhookEvent, event: Event) -> Held | None:
    """The one statement's row, locked: still as it wrote it, or as a racing retry left it."""
    stored = _lock(row.pk)
    if stored is not None and (stored.row.status, stored.row.attempts) == (row.status, row.attempts):
        return Held(row, inserted=True, event=event, apart=True)
    return stored


def _lock(pk: int) -> Held | None:
    row = WebhookEvent.objects.select_for_update().filter(pk=pk).first()
    return Held(row, inserted=False) if row is not None else None


# --- refusing a payload ----------------------------------------------------------------------------


def _reject(exc: InvalidPayload, *, body: bytes, headers: dict, remote_ip: str | None) -> Outcome:
    """400 (413 for size). A JSON object with a recognisable problem is kept as `invalid` for staff,
    once per body; junk is not stored. Never a 500: Mono would retry a poison payload forever."""
    status = 413 if exc.too_large else 400
    if not exc.storable:
        log.warning("webhook rejected: %s", exc)
        return Outcome(status, str(exc))
    row = WebhookEvent(
        event=exc.event,
        event_id=exc.event_id,
        dedupe_key=store.dedupe_key(event_id=None, body=body),  # the body's hash: the event_id may be what is wrong
        body=body.decode("utf-8"),
        headers=headers,
        remote_ip=remote_ip,
        status=Status.INVALID,
        attempts=1,
        error=str(exc),
    )
    row.pk = store.insert_unless_taken(row)
    if row.pk is None:
        row = WebhookEvent.objects.filter(dedupe_key=row.dedupe_key).first()
    log.warning("webhook invalid row=%s: %s", row and row.pk, exc)
    return Outcome(status, str(exc), row)


# --- helpers ---------------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    """Exception text can quote a payload; make sure no configured secret rides along into the row."""
    for secret in (settings.MONO_WEBHOOK_SECRET, settings.MONO_SECRET_KEY):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _log(outcome: Outcome) -> None:
    """The delivery's one INFO line (the request's access line then goes out at DEBUG): its row, its
    job(s) and, from the log context, the request id and Mono's event id."""
    row = outcome.delivery
    if row is not None:
        job = ",".join(map(str, outcome.jobs)) or "-"
        log.info(
            "webhook row=%s event=%s account=%s status=%s job=%s: %s",
            row.pk,
            row.event,
            row.mono_account_id or "-",
            row.status,
            job,
            outcome.detail,
            # A single job as its id, the number the worker's lines carry (log_context.task_middleware).
            extra={"job": outcome.jobs[0] if len(outcome.jobs) == 1 else job} if outcome.jobs else None,
        )
