"""What the bench scripts share: a free port for the servers they start, and the preamble of the
scripts that fill a PostgreSQL database of their own (their arguments, the refusal to empty any
database not named for a bench, and Django set up against it)."""

from __future__ import annotations

import argparse
import os
import socket
from urllib.parse import urlsplit

# Bench databases are emptied and refilled: only these names may be, never the test database or a
# real one. bench/admin_lists.py keeps its million rows in monolink_bench_admin between runs.
BENCH_PREFIX = "monolink_bench_"
KEPT = ("monolink_bench_admin",)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refuse_unless_bench(database_url: str, *, kept: tuple[str, ...] = KEPT) -> str:
    """The database's name, or SystemExit when the script must not empty it."""
    name = urlsplit(database_url).path.lstrip("/")
    if not name.startswith(BENCH_PREFIX) or name == BENCH_PREFIX or name in kept:
        raise SystemExit(f"Refusing to empty database {name!r}: use one named {BENCH_PREFIX}<yours>.")
    return name


def sized_run_arguments(description: str, *, default_url: str, url_variable: str, reps: int) -> argparse.Namespace:
    """--database-url (default from `url_variable`, else `default_url`), --sizes (ascending ints),
    --reps, --drop; the database name is checked before anything touches it."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(url_variable, default_url))
    parser.add_argument("--sizes", default="1000,1000000", help="account counts, ascending (default 1000,1000000)")
    parser.add_argument("--reps", type=int, default=reps)
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args()
    args.sizes = sorted(int(size) for size in args.sizes.split(","))
    refuse_unless_bench(args.database_url)
    return args


def set_up_django(database_url: str) -> None:
    """(Re)create the bench database if missing and set Django up on it with the test settings."""
    from bench.admin_lists import ensure_database

    ensure_database(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "monolink.test_settings"
    import django

    django.setup()
