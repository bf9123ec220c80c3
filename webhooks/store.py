"""Writing a delivery's row: `INSERT … ON CONFLICT (dedupe_key) DO NOTHING`, alone, or on PostgreSQL
together with the flag and its email job in one statement (the webhook's hottest path):

    WITH delivery AS (INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id),
         flag AS (reauth.state's flag UPDATE, gated on the INSERT having written a row,
                  RETURNING reauth_requested_at),
         job AS (Procrastinate's defer function for the email, only for a new flag: state.NEW_FLAG)
    SELECT the delivery's id, the flag's time, the job's id

A new flag then costs BEGIN, this statement and COMMIT (five round trips before). It is the
PostgreSQL form of pipeline.process() running handlers.reauthorisation_required, with the same
guarantees (tests/test_webhook_one_statement.py compares the rows both leave):

- The INSERT is still the lock: a racing copy's INSERT waits on the unique index until we commit,
  then finds the key taken; its UPDATE is gated on `EXISTS (SELECT 1 FROM delivery)`, a condition
  PostgreSQL evaluates once, before reading any account, so the copy changes nothing.
- The order guard, a new flag and Mono's repeat are the very UPDATE flag_for_reauth runs
  (state.flag_statement), and the email is queued exactly when flag_change() would say APPLIED.
- An UPDATE that matched nothing (unknown account, unlinked, stale) writes nothing; the pipeline
  then runs the handler in the same transaction, which says which (rare, so a statement more).

SQL built once per shape (functools.cache), never per delivery.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from monolink.taskqueue import DEFER_JOBS_SQL, collect_job_id, engine_in_database
from notifications.tasks import first_reauth_email_job
from reauth import state

from .handlers import reauthorisation_required
from .models import WebhookEvent
from .parsing import Event, ReauthorisationRequired

# Headers that carry credentials: never stored (Mono's header *is* the shared secret).
DROPPED_HEADERS = frozenset({"mono-webhook-secret", "cookie", "authorization", "proxy-authorization"})


@dataclass(frozen=True)
class Flagged:
    """What the one statement did for a delivery it inserted."""

    change: state.Change | None  # None: the UPDATE matched no row; the handler must say why
    queued: bool  # the statement queues the email itself (Procrastinate); in-process the handler does


def insert_unless_taken(row: WebhookEvent) -> int | None:
    """`INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`: the new id, or None if the key is taken.

    By hand because Django has no such call: bulk_create(ignore_conflicts=True) returns no id, so it
    cannot say which happened, and a plain INSERT refused by the unique index writes an ERROR line to
    PostgreSQL's log for every duplicate Mono sends. PostgreSQL and SQLite (3.35+) both accept it.
    """
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), _insert_params(row))
        inserted = cursor.fetchone()
    return inserted[0] if inserted else None


def one_statement_applies(event: Event, handler) -> bool:
    """PostgreSQL only (./dev run on SQLite keeps the general path), for the event it mirrors and
    only while that event's handler is the one it mirrors (a test or a hotfix may swap it)."""
    return (
        connection.vendor == "postgresql"
        and isinstance(event, ReauthorisationRequired)
        and handler is reauthorisation_required
    )


def insert_and_flag(row: WebhookEvent, event: ReauthorisationRequired) -> tuple[int | None, Flagged]:
    """Run the one statement: (the new row's id or None for a taken key, what it did to the account)."""
    now = timezone.now()
    queue_job = engine_in_database()  # in-process tasks have no table: the handler queues at commit
    params = _insert_params(row)  # sets received_at: what orders an event without a trusted timestamp
    occurred_at = event.occurred_at or row.received_at  # as pipeline._run hands it to the handler
    params.update(state.flag_params(event.account_id, occurred_at, now))
    if queue_job:
        params["jobs"] = [first_reauth_email_job(mono_account_id=event.account_id)]
    with connection.cursor() as cursor:
        cursor.execute(_one_statement(queue_job=queue_job), params)
        delivery, requested_at, job = cursor.fetchone()
    change = None if requested_at is None else state.flag_change(requested_at, now)
    if job is not None:
        collect_job_id(job)
    return delivery, Flagged(change, queued=queue_job)


@functools.cache
def _one_statement(*, queue_job: bool) -> str:
    flag = state.flag_statement(ordered=True, gate="EXISTS (SELECT 1 FROM delivery)")
    # Every piece is our own constant SQL; values travel only as parameters.
    job = f", job AS (SELECT unnest({DEFER_JOBS_SQL}) AS id FROM flag WHERE {state.NEW_FLAG})"  # noqa: S608
    return (
        f"WITH delivery AS ({_insert_sql()}), flag AS ({flag}){job if queue_job else ''} "  # noqa: S608
        f"SELECT (SELECT id FROM delivery), (SELECT reauth_requested_at FROM flag), "
        f"{'(SELECT id FROM job)' if queue_job else 'NULL'}"
    )


def _fields():
    return [f for f in WebhookEvent._meta.concrete_fields if not f.primary_key]


def _insert_params(row: WebhookEvent) -> dict:
    return {f"delivery_{f.column}": f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in _fields()}


@functools.cache
def _insert_sql() -> str:
    """Built once (the quoting is the backend's), not per delivery; named parameters, so the one
    statement can add its own beside them."""
    quote = connection.ops.quote_name
    columns = [f.column for f in _fields()]
    return (
        f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
        f"VALUES ({', '.join(f'%(delivery_{c})s' for c in columns)}) "
        f"ON CONFLICT ({quote('dedupe_key')}) DO NOTHING RETURNING {quote('id')}"
    )


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
