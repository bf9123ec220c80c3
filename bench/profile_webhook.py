"""Where a webhook delivery's time goes, in process: CPU per delivery, round trips, and a cProfile.

    .venv/bin/python bench/profile_webhook.py [--database-url postgres://postgres@127.0.0.1:5432/monolink_bench_profile]
                                              [--events 600] [--top 25] [--drop]

Production settings (DEBUG off, Procrastinate queueing in the delivery's transaction, JSON logs to
stdout, here sent to /dev/null), a dedicated PostgreSQL database, deliveries fed straight to the WSGI
application gunicorn serves (monolink.wsgi), so no HTTP server or client shares the CPU. It runs
`--events` new flags (one per account), the same number of Mono's repeats, and duplicates, each in
four variants, interleaved, so a busy machine slows them alike:

    now          the one statement and the webhook's own middleware (this branch)
    two-step     the general path's INSERT, UPDATE and job INSERT (what a new flag cost before)
    all-mw       the one statement through the pages' full middleware list
    before       both: the general path and the full middleware

CPU time (time.process_time) is this process's own: the figure a loaded machine disturbs least.
Wall time includes waiting on PostgreSQL. Prints one table, then the profile of a separate pass of
`now`'s new flags (the profiler slows what it watches, so it never runs during the timed passes).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import refuse_unless_bench  # noqa: E402

VARIANTS = ("now", "two-step", "all-mw", "before")
WARM_UP = 20  # deliveries per variant before any is timed


def configure(database_url: str) -> str:
    secret = secrets.token_urlsafe(32)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": database_url,
            "CONN_MAX_AGE_SECONDS": "600",
            "MONO_WEBHOOK_SECRET": secret,
            "MONO_SECRET_KEY": "test_sk_bench_not_a_real_key",
            "MONO_PUBLIC_KEY": "test_pk_bench_not_a_real_key",
            "MONO_API_BASE_URL": "http://127.0.0.1:9",  # never called: tasks only queue
            "MONO_REAUTH_MODE": "token",
            "TASKS_BACKEND": "procrastinate",
            "LOG_LEVEL": "INFO",
        }
    )
    from bench.admin_lists import drop_database, ensure_database

    drop_database(database_url)  # seeded afresh every run: the checked name is a bench's own
    ensure_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    return secret


@contextmanager
def stdout_to_devnull():
    """The JSON log lines are written (their cost counts) but not shown."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(null)
        os.close(saved)


def environ(body: bytes, secret: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks/mono/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_MONO_WEBHOOK_SECRET": secret,
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_PROFILE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/monolink_bench_profile"
        ),
    )
    parser.add_argument("--events", type=int, default=600, help="new flags per variant (default 600)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    refuse_unless_bench(args.database_url)
    secret = configure(args.database_url)

    from django.db import connection

    from bench import dbtool
    from monolink import wsgi
    from webhooks import store

    accounts = args.events * len(VARIANTS)
    dbtool.reset()
    dbtool.seed(accounts + len(VARIANTS) + args.events)  # + warm-up accounts + the profiled pass
    app = wsgi.application
    one_statement = store.one_statement_applies
    handlers = {"now": app, "two-step": app, "all-mw": app.pages, "before": app.pages}
    general = {"two-step", "before"}

    def send(variant: str, n: int, event_id: str) -> int:
        store.one_statement_applies = one_statement if variant not in general else (lambda event, handler: False)
        status: list[int] = []
        body = dbtool.event_body(n=n, event_id=event_id)
        b"".join(handlers[variant](environ(body, secret), lambda s, h, e=None: status.append(int(s[:3]))))
        return status[0]

    statements: dict[str, list[str]] = {}

    def record(execute, sql, params, many, context):
        statements.setdefault(current[0], []).append(sql)
        return execute(sql, params, many, context)

    current = [""]
    cpu = {(v, kind): 0.0 for v in VARIANTS for kind in ("new", "repeat", "duplicate")}
    wall = dict.fromkeys(cpu, 0.0)
    profile = cProfile.Profile()
    run = secrets.token_hex(4)
    with stdout_to_devnull(), connection.execute_wrapper(record):
        for k, variant in enumerate(VARIANTS):  # warm up: imports, the cached SQL, the connection
            for i in range(WARM_UP):
                send(variant, 1 + accounts + k, f"{run}-warm-{k}-{i}")
        for kind in ("new", "repeat", "duplicate"):
            for i in range(args.events):
                for k, variant in enumerate(VARIANTS):
                    n = 1 + i * len(VARIANTS) + k  # each variant its own accounts
                    event_id = f"{run}-{kind}-{n}" if kind != "duplicate" else f"{run}-new-{n}"
                    current[0] = f"{variant} {kind}" if i == 0 else ""
                    started_cpu, started = time.process_time(), time.perf_counter()
                    assert send(variant, n, event_id) == 200
                    cpu[variant, kind] += time.process_time() - started_cpu
                    wall[variant, kind] += time.perf_counter() - started
        current[0] = ""
        for i in range(args.events):  # apart from the timed passes: the profiler slows what it watches
            n = 1 + accounts + len(VARIANTS) + i
            profile.enable()
            send("now", n, f"{run}-profiled-{n}")
            profile.disable()
    store.one_statement_applies = one_statement

    print(f"{args.events} deliveries of each kind per variant, {accounts:,} accounts, PostgreSQL, in process")
    print(f"load average before/after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(f"{'variant':<10} {'kind':<10} {'CPU ms':>7} {'wall ms':>8} {'statements (first delivery)'}")
    for (variant, kind), seconds in cpu.items():
        sql = [s for s in statements.get(f"{variant} {kind}", []) if s != "ROLLBACK"]
        shape = ", ".join(s.split()[0] if not s.startswith("WITH") else "WITH…" for s in sql)
        print(
            f"{variant:<10} {kind:<10} {seconds * 1000 / args.events:7.2f} "
            f"{wall[variant, kind] * 1000 / args.events:8.2f} {len(sql)}: {shape}"
        )
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    print("\nProfile of `now`, new flags, by own time:\n" + out.getvalue())
    print("BENCH_JSON " + json.dumps({f"{v} {k}": round(s * 1000 / args.events, 3) for (v, k), s in cpu.items()}))
    if args.drop:
        from bench.admin_lists import drop_database

        connection.close()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
