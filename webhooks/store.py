"""Writing a delivery's row: `INSERT … ON CONFLICT (dedupe_key) DO NOTHING`, alone, or on PostgreSQL
with Procrastinate together with the flag and its email job in one statement, committed on its own
(the webhook's hottest path):

    WITH delivery AS (INSERT … VALUES (…, status: `processed` if reauth.state.flag_matches()
                      finds the account the flag would update, else `received`)
                      ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, status),
         flag AS (reauth.state's flag UPDATE, gated on the INSERT having written a `processed` row,
                  RETURNING reauth_requested_at),
         job AS (Procrastinate's defer function for the email, only for a new flag: state.NEW_FLAG)
    SELECT the delivery's id and status, the flag's time, the job's id

A new flag then costs this one statement: no BEGIN, no COMMIT (five round trips before). It is the
PostgreSQL form of pipeline.process() running handlers.reauthorisation_required, with the same
guarantees (tests/test_webhook_one_statement.py compares the rows both leave):

- One statement is one transaction: the delivery, the flag and the job commit together or not at all,
  and the answer goes out after that commit.
- The INSERT is still the lock: a racing copy's INSERT waits on the unique index until we commit,
  then finds the key taken; its UPDATE is gated on `EXISTS (SELECT 1 FROM delivery …)`, a condition
  PostgreSQL evaluates once, before reading any account, so the copy changes nothing.
- The order guard, a new flag and Mono's repeat are the very UPDATE flag_for_reauth runs
  (state.flag_statement), and the email is queued exactly when flag_change() would say APPLIED.
- A delivery whose account the flag would not update (unknown, unlinked, stale) is stored as
  `received` and nothing else is written; the pipeline then runs the handler on it in a transaction,
  which says which. Should the process die in between, `received` is a status Mono's retry runs again.

SQL built once per shape (functools.cache), never per delivery.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from monolink.taskqueue import DEFER_JOBS_SQL, engine_in_database
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

    status: str  # the status it wrote: the handled one, or `received` (the handler must say why)
    change: state.Change | None  # None: the UPDATE matched no row
    job: int | None  # the email job it queued (a new flag)


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
    """PostgreSQL with Procrastinate (./dev run on SQLite and in-process tasks keep the general
    path), for the event it mirrors and only while that event's handler is the one it mirrors (a
    test or a hotfix may swap it)."""
    return engine_in_database() and isinstance(event, ReauthorisationRequired) and handler is reauthorisation_required


def insert_and_flag(row: WebhookEvent, event: ReauthorisationRequired) -> tuple[int | None, Flagged]:
    """Run the one statement: (the new row's id or None for a taken key, what it did)."""
    now = timezone.now()
    params = _insert_params(row)  # sets received_at: what orders an event without a trusted timestamp
    occurred_at = event.occurred_at or row.received_at  # as pipeline._run hands it to the handler
    params.update(state.flag_params(event.account_id, occurred_at, now))
    params["received"] = WebhookEvent.Status.RECEIVED
    params["jobs"] = [first_reauth_email_job(mono_account_id=event.account_id)]
    with _prepared_cursor() as cursor:
        cursor.execute(_one_statement(), params)
        delivery, status, requested_at, job = cursor.fetchone()
    change = None if requested_at is None else state.flag_change(requested_at, now)
    return delivery, Flagged(status, change, job)


@contextmanager
def _prepared_cursor():
    """A Django cursor (query log, execute wrappers, error wrapping) over psycopg's server-side
    binding cursor: a connection prepares the statement after its fifth run (settings:
    DATABASE_PREPARED_STATEMENTS), PostgreSQL then no longer parses and plans it per delivery, and
    no value is quoted into its text. Django's own cursors bind client-side and are never prepared
    (its default): switching the whole project would change how every ORM query's parameters are
    typed, so only the hot statement opts in. Measured in docs/benchmarks.md."""
    connection.close_if_health_check_failed()  # what connection.cursor() does first
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    with connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw) as cursor:
        yield cursor


@functools.cache
def _one_statement() -> str:
    written = state.flag_matches(ordered=True)
    status = f"CASE WHEN {written} THEN %(delivery_status)s ELSE %(received)s END"
    gate = "EXISTS (SELECT 1 FROM delivery WHERE status = %(delivery_status)s)"
    flag = state.flag_statement(ordered=True, gate=gate)
    # Every piece is our own constant SQL; values travel only as parameters.
    job = f"SELECT unnest({DEFER_JOBS_SQL}) AS id FROM flag WHERE {state.NEW_FLAG}"  # noqa: S608
    return (
        f"WITH delivery AS ({_insert_sql(status)}), flag AS ({flag}), job AS ({job}) "  # noqa: S608
        "SELECT (SELECT id FROM delivery), (SELECT status FROM delivery), "
        "(SELECT reauth_requested_at FROM flag), (SELECT id FROM job)"
    )


def _fields():
    return [f for f in WebhookEvent._meta.concrete_fields if not f.primary_key]


def _insert_params(row: WebhookEvent) -> dict:
    return {f"delivery_{f.column}": f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in _fields()}


@functools.cache
def _insert_sql(status: str = "") -> str:
    """Built once (the quoting is the backend's), not per delivery; named parameters, so the one
    statement can add its own beside them, and its `status` expression instead of the value."""
    quote = connection.ops.quote_name
    columns = [f.column for f in _fields()]
    values = [status if status and column == "status" else f"%(delivery_{column})s" for column in columns]
    returning = quote("id") + (f", {quote('status')}" if status else "")
    return (
        f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
        f"VALUES ({', '.join(values)}) ON CONFLICT ({quote('dedupe_key')}) DO NOTHING RETURNING {returning}"
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
