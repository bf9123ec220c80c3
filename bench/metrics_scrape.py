"""What a /metrics scrape costs the database at 1,000 and at 1,000,000 linked accounts.

    .venv/bin/python bench/metrics_scrape.py [--database-url postgres://postgres@127.0.0.1:5432/monolink_bench_metrics]
                                             [--sizes 1000,1000000] [--reps 21] [--drop]

It (re)creates its own PostgreSQL database (default `monolink_bench_metrics`), migrates it, seeds
accounts with bench/admin_lists.py's seeder (1% flagged, 0.2% awaiting confirmation, one delivery
per account), marks 0.5% as reconnected within the last day (a tenth of those within the hour),
then for each size times the scrape through Django's test Client
with the bearer token: median and worst of `--reps` scrapes, SQL queries per scrape, and the plan of
each gauge query (an index scan, never a sequential scan of the accounts table). The last row is a
"bank outage": 10% of all accounts flagged at once, to show the cost follows the flagged count. For
scale, it also times the full `count(*)` over the accounts table that the gauges avoid.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.admin_lists import drop_database, seed  # noqa: E402
from bench.common import set_up_django, sized_run_arguments  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/monolink_bench_metrics"
TOKEN = secrets.token_urlsafe(16)
# Marks after seeding: reconnected within the day (1 in 200) and within the hour (1 in 2,000).
MARKS = [
    "UPDATE accounts_linkedaccount SET reauth_completed_at = now() - (id %% 20 + 2) * interval '1 hour'"
    " WHERE id %% 200 = 3 AND id BETWEEN %s AND %s",
    "UPDATE accounts_linkedaccount SET reauth_completed_at = now() - interval '10 minutes'"
    " WHERE id %% 2000 = 3 AND id BETWEEN %s AND %s",
]
OUTAGE = """
UPDATE accounts_linkedaccount SET reauth_required = true, reauth_requested_at = now()
WHERE id % 10 = 5 AND NOT reauth_required
"""


def gauge_queries() -> list[str]:
    """The SQL the database collector runs, captured from one collection."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from operations.collectors import DatabaseCollector

    with CaptureQueriesContext(connection) as ctx:
        list(DatabaseCollector().collect())
    return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]


def plan_summary(cursor, sql: str) -> tuple[str, float]:
    """The scan nodes of the query's plan and PostgreSQL's own execution time (ms): the database's
    work without the Python around it, which a busy machine inflates."""
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
    lines = [row[0] for row in cursor.fetchall()]
    nodes = [line.strip().lstrip("-> ").split("  (")[0] for line in lines if "Scan" in line]
    executed = next(float(line.split(":")[1].split()[0]) for line in lines if line.startswith("Execution Time"))
    return "; ".join(nodes), executed


def scrape(client, reps: int) -> tuple[float, float, int, bytes]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})  # warm the connection
    times = []
    for _ in range(reps):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
    queries = sum(1 for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT"))
    return statistics.median(times), max(times), queries, response.content


def collector_ms(reps: int) -> float:
    """The database gauges alone (what the scrape adds to the process metrics)."""
    from operations.collectors import DatabaseCollector

    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        list(DatabaseCollector().collect())
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def full_count_ms(cursor, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        cursor.execute("SELECT count(*) FROM accounts_linkedaccount")
        cursor.fetchone()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def gauge_lines(body: bytes) -> str:
    keep = ("monolink_accounts_reauth{", "monolink_accounts_reconnected{", "monolink_notifications_sent{")
    return ", ".join(
        line.replace("monolink_", "").replace(".0", "") for line in body.decode().splitlines() if line.startswith(keep)
    )


def main() -> None:
    args = sized_run_arguments(__doc__, default_url=DEFAULT_URL, url_variable="BENCH_METRICS_DATABASE_URL", reps=21)
    sizes = args.sizes
    set_up_django(args.database_url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.METRICS_TOKEN = TOKEN  # read per request; the test settings take nothing from the shell
    print("migrating ...", flush=True)
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE webhooks_webhookevent, accounts_linkedaccount, accounts_user RESTART IDENTITY CASCADE")
    client = Client()

    rows = []
    seeded = 0
    scenarios = [(size, False) for size in sizes] + [(sizes[-1], True)]
    for size, outage in scenarios:
        with connection.cursor() as cursor:
            if outage:
                print("bank outage: flagging 10% of all accounts ...", flush=True)
                cursor.execute(OUTAGE)
            else:
                print(f"seeding to {size:,} accounts ...", flush=True)
                seed(cursor, seeded + 1, size)
                for sql in MARKS:
                    cursor.execute(sql, [seeded + 1, size])
                seeded = size
            print("  VACUUM ANALYZE ...", flush=True)
            cursor.execute("VACUUM ANALYZE accounts_linkedaccount")
            plan_summary(cursor, gauge_queries()[0])  # warm
            plans = [plan_summary(cursor, sql) for sql in gauge_queries()]
            full = full_count_ms(cursor)
            server = sum(ms for _, ms in plans)
        median, worst, queries, body = scrape(client, args.reps)
        gauges = collector_ms(args.reps)
        label = f"{size:,}" + (" outage" if outage else "")
        rows.append((label, median, worst, queries, gauges, server, full))
        print(f"  scrape median {median:.1f} ms, worst {worst:.1f} ms, {queries} SELECTs", flush=True)
        print(f"  gauges: {gauge_lines(body)}", flush=True)
        for plan, ms in plans:
            print(f"  plan: {plan} ({ms:.2f} ms in PostgreSQL)", flush=True)
            if "Seq Scan on accounts_linkedaccount" in plan:
                print("  !! a gauge query scans the whole accounts table", flush=True)

    print()
    print(
        f"{'accounts':<18} {'scrape median ms':>17} {'worst ms':>9} {'SELECTs':>8} {'gauges alone ms':>16}"
        f" {'in PostgreSQL ms':>17} {'full count(*) ms':>17}"
    )
    for label, median, worst, queries, gauges, server, full in rows:
        print(f"{label:<18} {median:17.1f} {worst:9.1f} {queries:8d} {gauges:16.1f} {server:17.2f} {full:17.1f}")
    largest = rows[len(sizes) - 1]
    print(f"\nin PostgreSQL, {largest[0]} / {rows[0][0]} accounts: {largest[5] / rows[0][5]:.2f}x")
    if args.drop:
        connection.close()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
