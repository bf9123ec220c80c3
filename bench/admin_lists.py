"""How the staff admin lists and the overview scale: render time, SQL time and queries at 1,000 and
1,000,000 rows.

    .venv/bin/python bench/admin_lists.py [--database-url postgres://postgres@127.0.0.1:5432/monolink_bench_admin]
                                          [--sizes 1000,1000000] [--reps 7] [--drop]

It (re)creates a dedicated PostgreSQL database (default `monolink_bench_admin`, never the test
database; bench/run.py owns `monolink_bench` and drops it when it starts), migrates it, seeds users,
LinkedAccounts (10,000 flagged at 1M; 100 at 1k so every list's first page holds 100 rows at both
sizes and the two renders do the same work; some awaiting confirmation, some unlinked) and one WebhookEvent per
account with INSERT ... SELECT generate_series, in chunks with progress, then for each size renders
each admin list through Django's test Client signed in as a superuser: one cold render (caches
empty), then `--reps` timed renders. It prints one table: list, rows, median and cold ms, SQL
queries, and the 1M/1k ratio of the medians. Settings are monolink.test_settings (DEBUG off).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/monolink_bench_admin"
CHUNK = 100_000
INSTITUTIONS = ["GTBank", "Access Bank", "Zenith Bank", "First Bank of Nigeria", "United Bank for Africa", "Kuda Bank"]
EVENTS = [
    "mono.events.account_updated",
    "mono.events.reauthorisation_required",
    "mono.events.account_reauthorized",
    "mono.events.sync_failed",
    "mono.events.account_connected",
    "mono.events.account_unlinked",
]
FLAGGED = "(CASE WHEN g <= 1000 THEN g %% 10 = 0 ELSE g > 10000 AND g %% 100 = 0 END)"
# Reconnected within the last 30 days (for the overview's median): 1 in 7 of the accounts not flagged.
RECONNECTED = "CASE WHEN g %% 7 = 3 THEN now() - (g %% 43200) * interval '1 minute' END"
FAILED = "(CASE WHEN g <= 1000 THEN g %% 10 = 0 ELSE g %% 50 = 0 END)"
LISTS = [
    ("accounts: flagged", "/admin/accounts/linkedaccount/?reauth_state=flagged"),
    ("accounts: all", "/admin/accounts/linkedaccount/"),
    ("accounts: awaiting", "/admin/accounts/linkedaccount/?reauth_state=awaiting"),
    ("accounts: data FAILED", "/admin/accounts/linkedaccount/?data_status=FAILED"),
    ("accounts: search by id", "/admin/accounts/linkedaccount/?q={middle_account}"),
    ("accounts: search name part", "/admin/accounts/linkedaccount/?q={middle_number}"),
    ("accounts: search number end", "/admin/accounts/linkedaccount/?q=4321"),
    ("accounts: search username", "/admin/accounts/linkedaccount/?q=bench-user-{middle_user}"),
    ("deliveries: all", "/admin/webhooks/webhookevent/"),
    ("deliveries: failed", "/admin/webhooks/webhookevent/?status=failed"),
    ("deliveries: failed+invalid", "/admin/webhooks/webhookevent/?status=problem"),
    ("admin index: overview", "/admin/"),
]


def account_id_sql(expr: str) -> str:
    return f"'bench' || lpad(({expr})::text, 19, '0')"


def ensure_database(url: str) -> None:
    """Create the database if it does not exist (connecting to the server's `postgres` database)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"dropped database {name}")


def seed(cursor, start: int, stop: int) -> None:
    """Accounts and deliveries numbered start..stop (inclusive), 100 accounts per user."""
    users_from, users_to = (start - 1) // 100 + 1, (stop - 1) // 100 + 1
    cursor.execute(
        """
        INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined, email_undeliverable_reason)
        SELECT '!', false, 'bench-user-' || g, '', '', 'bench-user-' || g || '@example.com', false, true, now(), ''
        FROM generate_series(%s, %s) g
        ON CONFLICT (username) DO NOTHING
        """,
        [users_from, users_to],
    )
    institutions = "ARRAY[" + ",".join(f"'{name}'" for name in INSTITUTIONS) + "]"
    events = "ARRAY[" + ",".join(f"'{name}'" for name in EVENTS) + "]"
    for lo in range(start, stop + 1, CHUNK):
        hi = min(lo + CHUNK - 1, stop)
        t0 = time.perf_counter()
        # Flagged: 100 of the first 1,000, then 1% above 10,000 (10,000 in all at 1M); 0.4% unlinked.
        cursor.execute(
            f"""
            INSERT INTO accounts_linkedaccount (
                user_id, mono_account_id, institution_name, institution_type, institution_bank_code,
                account_name, account_number_masked, account_type, currency, balance, data_status, auth_method,
                reauth_required, reauth_token_fingerprint, reauth_token_issued_at, reauth_requested_at,
                reauth_submitted_at, reauth_completed_at, reauth_notified_at, unlinked_at, last_event_at, details_as_of,
                created_at, updated_at)
            SELECT u.id, {account_id_sql("g")}, ({institutions})[1 + g %% 6], 'PERSONAL_BANKING', '058',
                   'BENCH ACCOUNT ' || g, '******' || lpad((g %% 10000)::text, 4, '0'), 'SAVINGS_ACCOUNT', 'NGN',
                   g * 100, CASE WHEN g %% 97 = 0 THEN 'FAILED' ELSE 'AVAILABLE' END, 'internet_banking',
                   {FLAGGED}, NULL, NULL,
                   CASE WHEN {FLAGGED} THEN now() - (g %% 100000) * interval '1 minute'
                        WHEN g %% 7 = 3 THEN now() - (g %% 43200 + 1 + g %% 2880) * interval '1 minute' END,
                   CASE WHEN g %% 500 = 0 THEN now() - interval '1 minute' END,
                   {RECONNECTED},
                   CASE WHEN {FLAGGED} AND g %% 3 = 0 THEN now() - (g %% 1440) * interval '1 minute' END,
                   CASE WHEN g %% 250 = 7 THEN now() - interval '1 day' END,
                   NULL, NULL, now(), now()
            FROM generate_series(%s, %s) g
            JOIN accounts_user u ON u.username = 'bench-user-' || ((g - 1) / 100 + 1)
            """,  # noqa: S608  (only this module's constants are formatted in; numbers are parameters)
            [lo, hi],
        )
        # One delivery per account, newest last; failed: 100 of the first 1,000, then 2%; 1% unmatched.
        cursor.execute(
            f"""
            INSERT INTO webhooks_webhookevent (
                event, mono_account_id, event_id, dedupe_key, occurred_at, body, headers, remote_ip, status,
                attempts, error, traceback, received_at, processed_at, updated_at)
            SELECT ({events})[1 + g %% 6], {account_id_sql("g")}, 'evt-' || g, 'evt-' || g, NULL,
                   '{{"event": "' || ({events})[1 + g %% 6] || '", "event_id": "evt-' || g
                       || '", "data": {{"account": {{"_id": "' || {account_id_sql("g")} || '"}}}}}}',
                   '{{"content-type": "application/json", "user-agent": "bench"}}'::jsonb, NULL,
                   CASE WHEN {FAILED} THEN 'failed' WHEN g %% 100 = 1 THEN 'unmatched' ELSE 'processed' END,
                   1, CASE WHEN {FAILED} THEN 'RuntimeError: handler failed for bench event ' || g ELSE '' END,
                   '', now() - (%s - g) * interval '1 second', now(), now()
            FROM generate_series(%s, %s) g
            """,  # noqa: S608
            [stop, lo, hi],
        )
        print(f"  seeded rows {lo:,}..{hi:,} ({time.perf_counter() - t0:.1f} s)", flush=True)


def render(client, url: str, reps: int) -> tuple[float, list[float], int, int]:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()  # the cold render pays for the institution filter's choices
    t0 = time.perf_counter()
    response = client.get(url)
    cold = (time.perf_counter() - t0) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    times, sql = [], []
    for _ in range(reps):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
        sql.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)  # the database's share
        assert response.status_code == 200
    shown = len(response.context["cl"].result_list) if "cl" in response.context else 0  # the index has no list
    return cold, times, len(ctx.captured_queries), shown, statistics.median(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_ADMIN_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--sizes", default="1000,1000000", help="row counts, ascending (default 1000,1000000)")
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the rows a previous run left (one size, no seeding)"
    )
    parser.add_argument("--force", action="store_true", help="allow a database not named monolink_bench*")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    name = urlsplit(args.database_url).path.lstrip("/")
    if not name.startswith("monolink_bench") and not args.force:
        raise SystemExit(f"Refusing to empty database {name!r}: name it monolink_bench* or pass --force.")
    if name in ("test", "monolink_bench"):
        raise SystemExit(f"{name!r} belongs to the test suite or bench/run.py; use another database.")

    ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "monolink.test_settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User

    setup_test_environment()  # the test Client's host, locmem email
    started = time.perf_counter()
    print("migrating ...", flush=True)
    call_command("migrate", verbosity=0)
    from accounts.models import LinkedAccount

    if args.reuse:
        sizes = [LinkedAccount.objects.count()]
        User.objects.filter(username="bench-admin").delete()
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE webhooks_webhookevent, accounts_linkedaccount, accounts_user, django_admin_log, "
                "django_session RESTART IDENTITY CASCADE"
            )
    admin = User.objects.create_superuser("bench-admin", "bench-admin@example.com", "unused-password-0123456789")
    client = Client()
    client.force_login(admin)

    results: dict[str, dict[int, tuple[float, float, int, int, float, float]]] = {label: {} for label, _ in LISTS}
    seeded = 0
    for size in sizes:
        if not args.reuse:
            print(f"seeding to {size:,} accounts and {size:,} deliveries ...", flush=True)
            with connection.cursor() as cursor:
                seed(cursor, seeded + 1, size)
        with connection.cursor() as cursor:
            print("  VACUUM ANALYZE ...", flush=True)
            cursor.execute("VACUUM ANALYZE accounts_user, accounts_linkedaccount, webhooks_webhookevent")
        seeded = size
        for label, url in LISTS:
            url = url.format(
                middle_account=f"bench{size // 2:019d}", middle_number=size // 2 + 1, middle_user=size // 200
            )
            cold, times, queries, shown, sql_ms = render(client, url, args.reps)
            results[label][size] = (statistics.median(times), cold, queries, shown, min(times), sql_ms)
            print(
                f"  {label:<27} median {statistics.median(times):7.1f} ms (SQL {sql_ms:.1f}), cold {cold:7.1f} ms, "
                f"{queries} queries, {shown} rows on the page",
                flush=True,
            )

    small, large = sizes[0], sizes[-1]
    print()
    print(f"Admin list render times (Django test Client, superuser, {args.reps} reps after one cold render)")
    header = (
        f"| {'list':<27} | {'table rows':>10} | {'on page':>7} | {'median ms':>9} | {'min ms':>6} "
        f"| {'cold ms':>8} | {'queries':>7} | {'SQL ms':>6} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for label, _url in LISTS:
        for size in sizes:
            median, cold, queries, shown, fastest, sql_ms = results[label][size]
            print(
                f"| {label:<27} | {size:>10,} | {shown:>7} | {median:>9.1f} | {fastest:>6.1f} "
                f"| {cold:>8.1f} | {queries:>7} | {sql_ms:>6.1f} |"
            )
    print()
    if small == large:  # --reuse: one size, no ratio
        _finish(args, name, started, connection)
        return
    ratio_head = f"ratio {large:,}/{small:,} (median)"
    print(f"| {'list':<27} | {ratio_head} | queries {small:,} → {large:,} |")
    print(f"|{'-' * 29}|{'-' * (len(ratio_head) + 2)}|{'-' * (len(f'queries {small:,} → {large:,}') + 2)}|")
    for label, _url in LISTS:
        ratio = results[label][large][0] / results[label][small][0]
        queries = f"{results[label][small][2]} → {results[label][large][2]}"
        print(f"| {label:<27} | {ratio:>{len(ratio_head)}.2f} | {queries:<{len(f'queries {small:,} → {large:,}')}} |")
    _finish(args, name, started, connection)


def _finish(args, name: str, started: float, connection) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at the end {load} on {os.cpu_count()} CPUs")
    connection.close()
    if args.drop:
        drop_database(args.database_url)
    else:
        print(f"database {name} kept; drop it with: dropdb -h 127.0.0.1 -U postgres {name}")


if __name__ == "__main__":
    main()
