"""How the mobile API's reads scale: the accounts list and the polled re-auth state (ETag → 304) for
a user with 3 accounts, among 1,000 and 1,000,000 accounts.

    .venv/bin/python bench/api_accounts.py [--database-url postgres://postgres@127.0.0.1:5432/monolink_bench_api]
                                           [--sizes 1000,1000000] [--reps 300] [--drop]

It (re)creates its own PostgreSQL database (monolink_bench_api by default; only monolink_bench_*
names are emptied), migrates it, seeds users and accounts with bench/admin_lists.py's seeder, adds
one phone user with 3 accounts (one flagged) and a device token, then through Django's test Client
(the whole stack: middleware, knox authentication, DRF) times `--reps` requests of each after one
warm-up: p50, p99, max and SQL queries (authentication included). Budgets: the list p99 <= 50 ms in
<= 3 queries; the 304 in <= 2 queries (the token with its user, then the account). Settings are
monolink.test_settings (DEBUG off). Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import set_up_django, sized_run_arguments  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/monolink_bench_api"


def timed(client, path: str, reps: int, **headers) -> tuple[list[float], int, int, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path, **headers)  # warm-up: connection, caches, plans
    times, sql = [], []
    for _ in range(reps):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(path, **headers)
            times.append((time.perf_counter() - t0) * 1000)
        sql.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)  # the database's share
    return times, len(ctx.captured_queries), response.status_code, statistics.median(sql)


def p(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[int(q) - 1] if q < 100 else max(times)


def main() -> None:
    args = sized_run_arguments(__doc__, default_url=DEFAULT_URL, url_variable="BENCH_API_DATABASE_URL", reps=300)
    set_up_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from knox.models import AuthToken

    from accounts.models import LinkedAccount, User
    from bench.admin_lists import drop_database, seed
    from reauth import state

    setup_test_environment()
    print("migrating ...", flush=True)
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE webhooks_webhookevent, accounts_linkedaccount, accounts_user, knox_authtoken "
            "RESTART IDENTITY CASCADE"
        )
    rows, seeded = [], 0
    for size in args.sizes:
        print(f"seeding to {size:,} accounts ...", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            seed(cursor, seeded + 1, size - 3)  # the phone's 3 accounts make up the size
            cursor.execute("VACUUM ANALYZE accounts_user, accounts_linkedaccount")
        seeded = size - 3
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
        User.objects.filter(username="bench-phone").delete()
        phone = User.objects.create_user("bench-phone")  # no password: it signs in by token only
        accounts = [
            LinkedAccount.objects.create(user=phone, mono_account_id=f"benchphone{size}-{n}", institution_name="Kuda")
            for n in range(3)
        ]
        state.flag_for_reauth(mono_account_id=accounts[0].mono_account_id)
        _instance, token = AuthToken.objects.create(phone)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        poll = f"/api/v1/accounts/{accounts[0].pk}/reauth/"
        etag = client.get(poll)["ETag"]
        for label, path, headers in (
            ("accounts list", "/api/v1/accounts/", {}),
            ("re-auth state, 200", poll, {}),
            ("re-auth state, 304", poll, {"HTTP_IF_NONE_MATCH": etag}),
            ("launch summary", "/api/v1/summary/", {}),
        ):
            times, queries, status, sql_ms = timed(client, path, args.reps, **headers)
            rows.append((label, size, status, p(times, 50), p(times, 99), max(times), queries, sql_ms))
            print(f"  {label:<20} {status} p50 {p(times, 50):.1f} ms p99 {p(times, 99):.1f} ms {queries} queries")

    print()
    print(f"Mobile API reads, a user with 3 accounts (Django test Client, {args.reps} reps after a warm-up)")
    print("| request | accounts in table | status | p50 ms | p99 ms | max ms | queries | SQL ms (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, size, status, p50, p99, worst, queries, sql_ms in rows:
        print(f"| {label} | {size:,} | {status} | {p50:.1f} | {p99:.1f} | {worst:.1f} | {queries} | {sql_ms:.2f} |")
    if args.drop:
        connection.close()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
