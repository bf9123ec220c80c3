"""bench/common.py: the shared preamble refuses to empty any database not named for a bench, and
parses the sized runs' arguments the one way."""

import socket
import sys

import pytest

from bench.common import free_port, refuse_unless_bench, sized_run_arguments


@pytest.mark.parametrize(
    "url",
    [
        "postgres://postgres@127.0.0.1:5432/monolink",
        "postgres://postgres@127.0.0.1:5432/test_monolink",
        "postgres://postgres@127.0.0.1:5432/monolink_bench",
        "postgres://postgres@127.0.0.1:5432/monolink_bench_",
        "postgres://postgres@127.0.0.1:5432/monolink_bench_admin",  # bench/admin_lists.py keeps its rows there
    ],
)
def test_a_database_not_named_for_a_bench_is_never_emptied(url):
    with pytest.raises(SystemExit, match="Refusing to empty database"):
        refuse_unless_bench(url)


def test_a_bench_database_is_accepted_by_name():
    assert refuse_unless_bench("postgres://postgres@127.0.0.1:5432/monolink_bench_metrics") == "monolink_bench_metrics"


def test_sized_runs_parse_sizes_ascending_and_check_the_database_first(monkeypatch):
    monkeypatch.delenv("BENCH_X_URL", raising=False)
    monkeypatch.setattr(sys, "argv", ["bench", "--sizes", "1000000,1000", "--drop"])

    args = sized_run_arguments("x", default_url="postgres://h/monolink_bench_x", url_variable="BENCH_X_URL", reps=7)

    assert (args.sizes, args.reps, args.drop) == ([1000, 1000000], 7, True)
    monkeypatch.setattr(sys, "argv", ["bench", "--database-url", "postgres://h/monolink"])
    with pytest.raises(SystemExit, match="Refusing"):
        sized_run_arguments("x", default_url="postgres://h/monolink_bench_x", url_variable="BENCH_X_URL", reps=7)


def test_free_port_can_be_bound():
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))
