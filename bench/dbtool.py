"""The benchmark's in-process database work, run by bench/run.py as `python -m bench.dbtool <command>`
with DJANGO_SETTINGS_MODULE=bench.settings and the same environment as the server:

  seed --accounts N   users and linked accounts, in one INSERT ... SELECT each (generate_series on
                      PostgreSQL, a recursive CTE on SQLite), plus the `durable` row's table
  reset               un-flag the accounts a run flagged, so every run starts from the same state
  queries             SQL queries per new event, per duplicate and per signed-in page view, counted
                      with CaptureQueriesContext through the test Client; prints one JSON line
  stats               rows in the tables that grow during a run (JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable

import django

ACCOUNT_PREFIX = "bench"  # mono_account_id = "bench" + 19 digits: the pattern bench/lua/events.lua uses


def account_id(n: int) -> str:
    return f"{ACCOUNT_PREFIX}{n:019d}"


def event_body(*, n: int, event_id: str) -> bytes:
    return json.dumps(
        {
            "event": "mono.events.reauthorisation_required",
            "event_id": event_id,
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"account": {"_id": account_id(n), "name": "BENCH ACCOUNT", "institution": {"name": "Bench Bank"}}},
        }
    ).encode()


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def statements(sql: list[str]) -> int:
    """The SQL statements proper: what a query budget counts. BEGIN/COMMIT/SAVEPOINT are not, though
    each is a round trip too (Django 4.2+ captures BEGIN, COMMIT and ROLLBACK as well)."""
    return sum(1 for q in sql if not q.upper().startswith(TRANSACTION_CONTROL))


def count_queries(action: Callable[[], object]) -> tuple[list[str], object]:
    """Run `action` and return every SQL round trip it made, transaction control included."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        result = action()
    return [q["sql"] for q in captured.captured_queries], result


def _numbers(connection, n: int) -> str:
    """SQL yielding i = 1..n as a relation named `s(i)`."""
    if connection.vendor == "postgresql":
        return f"generate_series(1, {int(n)}) AS s(i)"
    return f"(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {int(n)}) SELECT i FROM c) AS s"  # noqa: S608


def _insert_select(model, explicit: dict[str, str], numbers: str) -> tuple[str, list]:
    """INSERT INTO <model> SELECT ... FROM numbers, filling fields we don't name the way Django would
    (null, the default, '' or now), so a field added to the model later does not break the seeder."""
    from django.db import connection, models
    from django.utils import timezone

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in explicit:
            values.append(explicit[field.name])
        elif isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
            values.append("%s")
            params.append(now)
        elif field.null:
            values.append("NULL")
        elif field.has_default() and not callable(field.default):
            values.append("%s")
            params.append(field.get_db_prep_save(field.default, connection))
        elif isinstance(field, models.CharField | models.TextField):
            values.append("''")
        elif isinstance(field, models.DateTimeField):
            values.append("%s")
            params.append(now)
        else:
            raise SystemExit(f"bench seeder: don't know how to fill {model.__name__}.{field.name}")
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {numbers}"  # noqa: S608
    return sql, params


def seed(accounts: int) -> None:
    from django.db import connection, transaction

    from accounts.models import LinkedAccount, User
    from bench.views import create_durable_table

    create_durable_table()
    numbers = _numbers(connection, accounts)
    concat = "||"
    pad = (
        "lpad(CAST(i AS text), 19, '0')"
        if connection.vendor == "postgresql"
        else "substr('0000000000000000000' || i, -19, 19)"
    )
    started = time.monotonic()
    with transaction.atomic():
        sql, params = _insert_select(
            User,
            {
                "username": f"'bench-user-' {concat} i",
                "email": f"'bench' {concat} i {concat} '@example.com'",
                "password": "'!bench-unusable'",  # "!" prefix: an unusable password, as Django writes
                "is_active": "%s" % ("true" if connection.vendor == "postgresql" else "1"),
            },
            numbers,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.execute(f"SELECT min(id) FROM {User._meta.db_table}")  # noqa: S608
            first_user = cursor.fetchone()[0]
        print(f"  seeded {accounts:,} users in {time.monotonic() - started:.1f} s", flush=True)
        sql, params = _insert_select(
            LinkedAccount,
            {
                "user": f"{int(first_user) - 1} + i",  # one user per account, in insertion order
                "mono_account_id": f"'{ACCOUNT_PREFIX}' {concat} {pad}",
                "institution_name": "'Bench Bank'",
                "account_name": "'BENCH ACCOUNT'",
                "account_number_masked": "'******6789'",
                "currency": "'NGN'",
            },
            numbers,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as a database that grew over time would have
    print(f"  seeded {accounts:,} linked accounts in {time.monotonic() - started:.1f} s", flush=True)


def reset() -> None:
    """Put the accounts the last run flagged back to their seeded state; cheap even with 1,000,000
    accounts (partial index + few rows).

    Not through accounts.rules, on purpose: this restores a fixture, it is not a state change any
    rule makes. The rules never forget `last_event_at` (the order guard that stops a late event
    undoing newer state) and record `reauth_completed_at`; clearing through clear_reauth_flag would
    leave both set, so the next run would measure a different state, at one transaction per account.
    """
    from accounts.models import LinkedAccount

    LinkedAccount.objects.filter(reauth_required=True).update(
        reauth_required=False,
        reauth_requested_at=None,
        reauth_notified_at=None,
        reauth_token_fingerprint=None,
        reauth_token_issued_at=None,
        last_event_at=None,
    )
    from django.db import connection

    if connection.vendor == "postgresql" and not connection.in_atomic_block:  # VACUUM needs autocommit
        # The previous row's dead and new rows are vacuumed and analysed now, not by autovacuum in
        # the middle of the next row: the row after `durable` (thousands of inserts) ran 20-50%
        # slower than the same row run again right after it. (A CHECKPOINT here would make every
        # row start with full-page writes: not the steady state either.)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def stats() -> dict:
    from django.db import connection

    tables = {"webhook_events": "webhooks_webhookevent", "durable_rows": "bench_durable"}
    if connection.vendor == "postgresql":  # Procrastinate's queue exists only there
        tables["queued_tasks"] = "procrastinate_jobs"
    out = {}
    with connection.cursor() as cursor:
        for name, table in tables.items():
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            out[name] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM accounts_linkedaccount WHERE reauth_required")
        out["flagged_accounts"] = cursor.fetchone()[0]
    return out


def queries(secret: str, *, verbose_path: str | None = None) -> dict:
    """SQL per new event, per duplicate, per signed-in page (and the re-auth banner's share of it)."""
    from django.conf import settings
    from django.test import Client, override_settings

    from accounts.models import LinkedAccount

    reset()
    client = Client()
    headers = {"mono-webhook-secret": secret}
    body = event_body(n=1, event_id=f"bench-queries-{uuid.uuid4().hex}")

    def post():
        return client.post("/webhooks/mono/", body, content_type="application/json", headers=headers)

    new_sql, new_response = count_queries(post)
    dup_sql, dup_response = count_queries(post)

    account = LinkedAccount.objects.select_related("user").get(mono_account_id=account_id(1))
    flagged_after = account.reauth_required
    page = Client()
    page.force_login(account.user)
    page.get("/")  # warm-up: the first request of a session may touch it; count a steady-state view
    page_sql, page_response = count_queries(lambda: page.get("/"))
    without_banner = [
        {
            **engine,
            "OPTIONS": {
                **engine["OPTIONS"],
                "context_processors": [
                    p for p in engine["OPTIONS"]["context_processors"] if p != "accounts.context_processors.monolink"
                ],
            },
        }
        for engine in settings.TEMPLATES
    ]
    with override_settings(TEMPLATES=without_banner):
        plain_sql, _ = count_queries(lambda: page.get("/"))
    result = {
        "new_event": statements(new_sql),
        "new_event_round_trips": len(new_sql),
        "new_event_status": new_response.status_code,
        "flagged": flagged_after,
        "duplicate": statements(dup_sql),
        "duplicate_round_trips": len(dup_sql),
        "duplicate_status": dup_response.status_code,
        "page": statements(page_sql),
        "page_status": page_response.status_code,
        "page_without_banner": statements(plain_sql),
        "banner_extra": statements(page_sql) - statements(plain_sql),
    }
    if verbose_path:
        with open(verbose_path, "w") as out:
            for title, sql in (("new event", new_sql), ("duplicate", dup_sql), ("signed-in page", page_sql)):
                out.write(f"-- {title}: {statements(sql)} statements, {len(sql)} round trips\n")
                out.writelines(f"{q}\n" for q in sql)
                out.write("\n")
    return result


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    parser = argparse.ArgumentParser(prog="python -m bench.dbtool")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("seed").add_argument("--accounts", type=int, required=True)
    sub.add_parser("reset")
    sub.add_parser("stats")
    q = sub.add_parser("queries")
    q.add_argument("--sql-log")
    args = parser.parse_args(argv)
    if args.command == "seed":
        seed(args.accounts)
    elif args.command == "reset":
        reset()
    elif args.command == "stats":
        print(json.dumps(stats()))
    elif args.command == "queries":
        from django.conf import settings

        print("BENCH_JSON " + json.dumps(queries(settings.MONO_WEBHOOK_SECRET, verbose_path=args.sql_log)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
