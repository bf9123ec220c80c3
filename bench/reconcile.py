"""What one reconciler pass costs in the database at 1,000 and at 1,000,000 accounts.

    .venv/bin/python bench/reconcile.py [--database-url postgres://postgres@127.0.0.1:5432/monolink_bench_reconcile]
                                        [--sizes 1000,1000000] [--reps 7] [--drop]

It (re)creates a dedicated PostgreSQL database (never the test database), migrates it and seeds it
with bench/admin_lists.py's seeder (10,000 flagged accounts at 1M, flags spread over 69 days), plus
1% of linked accounts with details older than a day. Then it times the reconciler's two queries
(notifications.schedule.due_emails and stale_details, batch 500, Procrastinate's job table
consulted as in production) in two states:

- caught up: every flagged account already has the email its flag's age calls for (the usual
  minute: the pass finds nothing to do and has to look at every flagged account to know it);
- backlog: no email recorded at all (after an outage): the first 500 are found at once.

It prints one table: state, accounts, flagged, median and slowest ms, rows found.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.admin_lists import drop_database, seed  # noqa: E402
from bench.common import set_up_django, sized_run_arguments  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/monolink_bench_reconcile"
BATCH = 500


def timed(action, reps: int) -> tuple[float, float, int]:
    """Median and slowest milliseconds of `reps` runs, after one warm-up run; rows of the last."""
    action()
    times, found = [], 0
    for _ in range(reps):
        t0 = time.perf_counter()
        found = action()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times), found


def main() -> None:
    args = sized_run_arguments(__doc__, default_url=DEFAULT_URL, url_variable="BENCH_RECONCILE_DATABASE_URL", reps=7)
    sizes = args.sizes
    set_up_django(args.database_url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from notifications import schedule

    settings.TASKS_BACKEND = "procrastinate"  # due_emails also looks at Procrastinate's waiting jobs
    print("migrating ...", flush=True)
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE accounts_notification, webhooks_webhookevent, accounts_linkedaccount, accounts_user "
            "RESTART IDENTITY CASCADE"
        )

    def due() -> int:
        return len(schedule.due_emails(now=timezone.now(), limit=BATCH))

    def stale() -> int:
        with transaction.atomic():
            found = len(schedule.stale_details(now=timezone.now(), limit=BATCH))
            transaction.set_rollback(True)  # measure the query, leave the rows as they are
        return found

    rows = []
    seeded = 0
    for size in sizes:
        print(f"seeding to {size:,} accounts ...", flush=True)
        with connection.cursor() as cursor:
            seed(cursor, seeded + 1, size)
            # 1% of accounts: details not heard of for two days.
            cursor.execute(
                "UPDATE accounts_linkedaccount SET details_checked_at = now() - interval '2 days' "
                "WHERE id > %s AND id %% 100 = 3",
                [seeded],
            )
            cursor.execute("VACUUM ANALYZE accounts_user, accounts_linkedaccount")
            flagged = cursor.execute(
                "SELECT count(*) FROM accounts_linkedaccount WHERE reauth_required AND unlinked_at IS NULL"
            ).fetchone()[0]
        seeded = size
        # Caught up: each flagged account has the email its flag's age calls for.
        offsets = schedule.reminder_offsets()
        step_sql = "CASE " + " ".join(
            f"WHEN reauth_requested_at <= now() - interval '{offset.total_seconds()} seconds' THEN {step}"
            for step, offset in reversed(list(enumerate(offsets, start=1)))
        )
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE accounts_notification")
            cursor.execute(
                f"""
                INSERT INTO accounts_notification (account_id, flagged_at, step, sent_at, created_at)
                SELECT id, reauth_requested_at, {step_sql} ELSE 0 END, now(), now()
                FROM accounts_linkedaccount
                WHERE reauth_required AND unlinked_at IS NULL AND reauth_requested_at IS NOT NULL
                """  # noqa: S608 (only our own offsets are formatted in)
            )
            cursor.execute("ANALYZE accounts_notification")
        rows.append(("emails, caught up", size, flagged, *timed(due, args.reps)))
        rows.append(("stale details", size, flagged, *timed(stale, args.reps)))
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE accounts_notification")
            cursor.execute("ANALYZE accounts_notification")
        rows.append(("emails, backlog", size, flagged, *timed(due, args.reps)))
        for row in rows[-3:]:
            print(f"  {row[0]:<18} median {row[3]:7.1f} ms, slowest {row[4]:7.1f} ms, {row[5]} found", flush=True)

    print()
    print(f"Reconciler queries per pass (batch {BATCH}, {args.reps} runs after one warm-up)")
    header = (
        f"| {'query':<18} | {'accounts':>10} | {'flagged':>7} | {'median ms':>9} | {'slowest ms':>10} | {'found':>5} |"
    )
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for label, size, flagged, median, slowest, found in sorted(rows, key=lambda r: (r[0], r[1])):
        print(f"| {label:<18} | {size:>10,} | {flagged:>7,} | {median:>9.1f} | {slowest:>10.1f} | {found:>5} |")
    if args.drop:
        connection.close()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
