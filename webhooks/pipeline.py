"""The one path every Mono delivery takes: HTTP view, replay command, admin Reprocess and sandbox.

    receive(): decode → parse → one transaction { insert the row (unique dedupe key) → handler → status }

Decisions, each guarding against something Mono does (DESIGN.md §1, §2):

- The row is inserted *inside* the processing transaction, optimistically as `processed`. The unique
  `dedupe_key` then does two jobs at once: a concurrent duplicate's INSERT waits on the index until
  we commit and fails with IntegrityError (answered 200, nothing applied twice), and a sequential
  duplicate fails at once. It also keeps a new event at one write for the log row.
- A handler fault rolls back the handler *and* the row; the failure is then saved in a separate
  transaction (error + traceback, status `failed`) and answered 500, so Mono's retry of the same
  event finds a `failed` row and processes it again, under `select_for_update` with the status
  re-checked, so two racing retries apply it once.
- Duplicates of processed/ignored rows are read-only: `attempts` is not bumped (it counts times we
  ran the handler), keeping the duplicate answer at two queries.
- Events are ordered by Mono's `timestamp`, else by when we first received them (`received_at`):
  arrival order is all older payloads give us, and storing it lets a later reprocess of an old
  timestamp-less delivery be recognised as stale instead of undoing newer state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts import rules
from monolink import log_context

from .events import Event, InvalidPayload, parse_event
from .handlers import HANDLERS
from .models import WebhookEvent

log = logging.getLogger(__name__)

Status = WebhookEvent.Status
# Headers that carry credentials: never stored (Mono's header *is* the shared secret).
DROPPED_HEADERS = frozenset({"mono-webhook-secret", "cookie", "authorization", "proxy-authorization"})
# A duplicate of one of these is processed again: a failure is Mono's retry; an unmatched account may
# have been linked meanwhile; `received` is a row whose processing never finished.
RETRYABLE = frozenset({Status.FAILED, Status.RECEIVED, Status.UNMATCHED})
_ERROR_LIMIT = 2000


@dataclass(frozen=True)
class Outcome:
    http_status: int
    detail: str
    event: WebhookEvent | None = None
    duplicate: bool = False  # True when nothing ran because the delivery had been handled already

    @property
    def status(self) -> str:
        return self.event.status if self.event is not None else ""


class _Duplicate(Exception):
    """The dedupe key is taken: raised out of the transaction so the failed INSERT rolls back."""


# --- entry points ----------------------------------------------------------------------------------


def receive(*, body: bytes, headers: Mapping[str, str], remote_ip: str | None) -> Outcome:
    """Record and handle one delivery. The caller has already checked the webhook secret."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if len(body) > limit:
        log.warning("webhook rejected: body of %d bytes over the %d byte limit", len(body), limit)
        return Outcome(413, f"Body too large: the limit is {limit} bytes.")
    stored_headers = redact_headers(headers)
    try:
        event = parse_event(decode(body))
    except InvalidPayload as exc:
        return _reject(exc, body=body, headers=stored_headers, remote_ip=remote_ip)
    fields = {
        "event": event.name,
        "mono_account_id": getattr(event, "account_id", ""),
        "event_id": event.event_id or "",
        "dedupe_key": dedupe_key(event_id=event.event_id, body=body),
        "occurred_at": event.occurred_at,
        "body": body.decode("utf-8"),
        "headers": stored_headers,
        "remote_ip": remote_ip,
    }
    return _first_delivery(event, fields)


def reprocess(event: WebhookEvent) -> Outcome:
    """Run a stored delivery again, whatever its status (staff or `replay_webhooks` asked for it).

    Safe on a processed row: the rules are idempotent and order-safe, so a repeat is `unchanged` or
    `stale`, which the detail reports.
    """
    return _reapply(event.pk, only_if=None)


def replay_unmatched(*, mono_account_id: str) -> int:
    """Reprocess the account's `unmatched` deliveries, oldest first; return how many ran.

    Called by accounts.rules.link_account after commit: Mono's webhooks can beat the browser's code
    exchange, and those deliveries were parked rather than lost.
    """
    pks = list(
        WebhookEvent.objects.filter(mono_account_id=mono_account_id, status=Status.UNMATCHED)
        .order_by("received_at", "id")
        .values_list("pk", flat=True)
    )
    replayed = 0
    for pk in pks:
        outcome = _reapply(pk, only_if=frozenset({Status.UNMATCHED}))
        replayed += not outcome.duplicate
    if pks:
        log.info("replayed %d unmatched webhook(s) account=%s", replayed, mono_account_id)
    return replayed


# --- helpers others may use ------------------------------------------------------------------------


def decode(body: bytes) -> object:
    """The body as JSON, or InvalidPayload (not storable: there is no event in it for staff)."""
    if not body.strip():
        raise InvalidPayload("Empty body: expected a JSON object.", storable=False)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("Body is not UTF-8 text.", storable=False) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"Body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).", storable=False)
    except RecursionError:
        raise InvalidPayload("Body is not usable JSON: nested too deeply.", storable=False) from None


def dedupe_key(*, event_id: str | None, body: bytes) -> str:
    """Mono's event_id when sent (a retry may be re-serialised), else the body's hash."""
    if event_id:
        return f"id:{event_id}"
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers worth keeping for staff, without credentials: the webhook secret, cookies, authorization."""
    secret = settings.MONO_WEBHOOK_SECRET
    kept = {}
    for name, value in headers.items():
        key = str(name).lower()
        value = str(value)
        if key in DROPPED_HEADERS or (secret and secret in value):  # the secret pasted elsewhere too
            continue
        kept[key] = value
    return kept


# --- internals -------------------------------------------------------------------------------------


def _first_delivery(event: Event, fields: dict) -> Outcome:
    handler = HANDLERS.get(event.name)
    committed: list[bool] = []
    outcome: Outcome | None = None
    try:
        with transaction.atomic():
            # Registered first so it runs before the rules' follow-up tasks: it tells a failing
            # follow-up (after commit) apart from a handler fault (before commit).
            transaction.on_commit(lambda: committed.append(True))
            try:
                row = WebhookEvent.objects.create(
                    **fields,
                    status=Status.PROCESSED if handler else Status.IGNORED,
                    attempts=1,
                    processed_at=timezone.now(),
                )
            except IntegrityError:
                raise _Duplicate from None
            outcome = _run(row, event) if handler else Outcome(200, "Ignored: not an event we act on.", row)
    except _Duplicate:
        return _duplicate(fields["dedupe_key"])
    except Exception as exc:
        if committed and outcome is not None:
            return _after_commit_failure(outcome, exc)
        return _record_first_failure(fields, exc, traceback.format_exc())
    _log(outcome)
    return outcome


def _run(row: WebhookEvent, event: Event) -> Outcome:
    """Inside the caller's transaction: apply the event and set the row's status accordingly."""
    handler = HANDLERS[event.name]
    log_context.bind(delivery=row.pk, mono_event_id=row.event_id)  # on the handler's and rules' lines too
    try:
        change = handler(event, event.occurred_at or row.received_at)
    except rules.UnknownAccount:
        # The rule's own savepoint rolled its part back; the row waits for link_account.
        row.status = Status.UNMATCHED
        row.processed_at = None
        row.save(update_fields=["status", "processed_at", "updated_at"])
        return Outcome(200, "Unmatched: no linked account with this id yet; replayed when it is linked.", row)
    return Outcome(200, f"Processed: {change}.", row)


def _duplicate(key: str) -> Outcome:
    try:
        row = WebhookEvent.objects.get(dedupe_key=key)
    except WebhookEvent.DoesNotExist:  # cannot happen without a delete racing us; let Mono retry
        return Outcome(503, "Delivery state changed while answering; please retry.")
    if row.status in RETRYABLE:
        return _reapply(row.pk, only_if=RETRYABLE)
    if row.status == Status.INVALID:
        return Outcome(400, row.error or "Invalid payload.", row, duplicate=True)
    outcome = Outcome(200, f"Duplicate of delivery #{row.pk} ({row.status}): nothing done.", row, duplicate=True)
    _log(outcome)
    return outcome


def _reapply(pk: int, *, only_if: frozenset[str] | None) -> Outcome:
    """Handle a stored delivery again, under a row lock so racing retries apply it once."""
    committed: list[bool] = []
    outcome: Outcome | None = None
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(True))
            row = WebhookEvent.objects.select_for_update().get(pk=pk)
            if only_if is not None and row.status not in only_if:
                # A racing delivery handled it while we waited for the lock.
                return Outcome(200, f"Already {row.status} (delivery #{row.pk}): nothing done.", row, duplicate=True)
            previous = row.status
            row.attempts += 1
            row.error = row.traceback = ""
            row.processed_at = timezone.now()
            try:
                event = parse_event(decode(row.body.encode("utf-8")))
            except InvalidPayload as exc:
                row.status = Status.INVALID
                row.error = str(exc)
                row.save()
                outcome = Outcome(400, str(exc), row)
            else:
                row.event = event.name
                row.mono_account_id = getattr(event, "account_id", "")
                row.occurred_at = event.occurred_at
                row.status = Status.PROCESSED if event.name in HANDLERS else Status.IGNORED
                row.save()
                outcome = _run(row, event) if event.name in HANDLERS else Outcome(200, "Ignored.", row)
            outcome = Outcome(outcome.http_status, f"Was {previous}. {outcome.detail}", outcome.event)
    except Exception as exc:
        if committed and outcome is not None:
            return _after_commit_failure(outcome, exc)
        error, tb = _scrub(f"{type(exc).__name__}: {exc}"), _scrub(traceback.format_exc())
        WebhookEvent.objects.filter(pk=pk).update(
            status=Status.FAILED,
            attempts=F("attempts") + 1,
            error=error[:_ERROR_LIMIT],
            traceback=tb,
            processed_at=None,
            updated_at=timezone.now(),
        )
        log.exception("webhook handler failed again row=%s", pk)
        row = WebhookEvent.objects.filter(pk=pk).first()
        return Outcome(500, f"Processing failed ({type(exc).__name__}); kept for a retry.", row)
    _log(outcome)
    return outcome


def _record_first_failure(fields: dict, exc: Exception, tb: str) -> Outcome:
    """Save the failure outside the rolled-back transaction, so staff see it and Mono's retry redoes it."""
    log.error("webhook handler failed event=%s account=%s: %s", fields["event"], fields["mono_account_id"], tb)
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                **fields,
                status=Status.FAILED,
                attempts=1,
                error=_scrub(f"{type(exc).__name__}: {exc}")[:_ERROR_LIMIT],
                traceback=_scrub(tb),
            )
    except IntegrityError:  # a racing retry took the key meanwhile; its row tells the story
        row = WebhookEvent.objects.filter(dedupe_key=fields["dedupe_key"]).first()
    return Outcome(500, f"Processing failed ({type(exc).__name__}); kept for a retry.", row)


def _after_commit_failure(outcome: Outcome, exc: Exception) -> Outcome:
    # The effect is committed; only a follow-up (task enqueue) failed. Answering 500 would make
    # Mono retry an event we already applied.
    log.error("webhook follow-up after commit failed row=%s error=%s", outcome.event and outcome.event.pk, exc)
    return outcome


def _reject(exc: InvalidPayload, *, body: bytes, headers: dict, remote_ip: str | None) -> Outcome:
    """400. A JSON object with a recognisable problem is kept as `invalid` for staff; junk is not."""
    if not exc.storable:
        log.warning("webhook rejected: %s", exc)
        return Outcome(400, str(exc))
    key = dedupe_key(event_id=None, body=body)  # the body's hash: the event_id may be what is wrong
    try:
        with transaction.atomic():
            row = WebhookEvent.objects.create(
                event=exc.event,
                event_id=exc.event_id,
                dedupe_key=key,
                body=body.decode("utf-8"),
                headers=headers,
                remote_ip=remote_ip,
                status=Status.INVALID,
                attempts=1,
                error=str(exc),
            )
    except IntegrityError:
        row = WebhookEvent.objects.filter(dedupe_key=key).first()
    log.warning("webhook invalid row=%s: %s", row and row.pk, exc)
    return Outcome(400, str(exc), row)


def _scrub(text: str) -> str:
    """Exception text can quote a payload; make sure no configured secret rides along into the row."""
    for secret in (settings.MONO_WEBHOOK_SECRET, settings.MONO_SECRET_KEY):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _log(outcome: Outcome) -> None:
    row = outcome.event
    if row is not None:
        log.info(
            "webhook row=%s event=%s account=%s status=%s: %s",
            row.pk,
            row.event,
            row.mono_account_id or "-",
            row.status,
            outcome.detail,
        )
