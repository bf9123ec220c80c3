"""The benchmark's moving parts that can be wrong without any timing: the comparison views, the query
counter, the seeder (whose account ids the wrk script must hit), the wrk-output parser, the targets
verdicts and the slow-Mono stub's answers. No test here measures time."""

import json

import pytest
from django.db import connection

from accounts.models import LinkedAccount, User
from bench import dbtool, run, stub
from bench.run import Config, Result, Row, parse_wrk, targets
from bench.views import DURABLE_TABLE, create_durable_table
from monolink.mono.client import MonoClient

EVENT = dbtool.event_body(n=1, event_id="evt-1")


@pytest.mark.urls("bench.urls")
def test_durable_view_commits_the_body_with_exactly_one_statement(client, db):
    create_durable_table()

    sql, response = dbtool.count_queries(lambda: client.post("/bench/durable/", EVENT, content_type="application/json"))

    assert response.status_code == 200
    assert dbtool.statements(sql) == 1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT body FROM {DURABLE_TABLE}")  # noqa: S608
        assert [json.loads(body) for (body,) in cursor.fetchall()] == [json.loads(EVENT)]


@pytest.mark.urls("bench.urls")
def test_bare_view_answers_without_touching_the_database(client, db):
    sql, response = dbtool.count_queries(lambda: client.post("/bench/bare/", EVENT, content_type="application/json"))

    assert response.status_code == 200
    assert sql == []


def test_statement_count_leaves_out_transaction_control():
    sql = ["BEGIN", 'INSERT INTO "t" VALUES (1)', 'SAVEPOINT "s1"', "SELECT 1", 'RELEASE SAVEPOINT "s1"', "COMMIT"]

    assert dbtool.statements(sql) == 2


def test_seeder_creates_one_user_per_account_with_the_ids_the_wrk_script_targets(db):
    dbtool.seed(accounts=5)

    accounts = list(LinkedAccount.objects.select_related("user").order_by("mono_account_id"))
    assert [a.mono_account_id for a in accounts] == [f"bench{n:019d}" for n in range(1, 6)]
    assert [dbtool.account_id(n) for n in range(1, 6)] == [a.mono_account_id for a in accounts]
    assert len({a.user_id for a in accounts}) == 5
    assert User.objects.count() == 5
    assert not any(a.reauth_required for a in accounts)
    assert not any(u.has_usable_password() for u in User.objects.all())


def test_reset_unflags_every_account_a_run_flagged(db):
    dbtool.seed(accounts=3)
    LinkedAccount.objects.update(reauth_required=True, reauth_token_fingerprint="tok")

    dbtool.reset()

    assert LinkedAccount.objects.filter(reauth_required=True).count() == 0
    assert LinkedAccount.objects.exclude(reauth_token_fingerprint=None).count() == 0


def test_lua_script_builds_the_same_account_ids_as_the_seeder():
    lua = (dbtool.__file__.rsplit("/", 1)[0]) + "/lua/events.lua"
    with open(lua) as script:
        text = script.read()

    assert 'string.format("bench%019d", n)' in text
    assert dbtool.account_id(42) == "bench%019d" % 42  # noqa: UP031 (the Lua format, as Lua applies it)


def test_parse_wrk_reads_the_json_line_from_the_lua_done_hook():
    output = (
        "Running 5s test @ http://127.0.0.1:1/\n"
        'BENCH_JSON {"requests":5000,"duration_us":5000000,"p50_us":1500,"p90_us":2500,"p99_us":9000,'
        '"max_us":20000,"mean_us":1700.5,"connect_errors":0,"read_errors":1,"write_errors":0,'
        '"status_errors":2,"timeouts":0}\n'
    )

    result = parse_wrk(output)

    assert result.rps == 1000
    assert (result.p50_ms, result.p99_ms, result.errors) == (1.5, 9.0, 3)


def test_parse_wrk_refuses_output_without_the_json_line():
    with pytest.raises(ValueError, match="BENCH_JSON"):
        parse_wrk("Running 5s test\n  Requests/sec: 1000\n")


def _row(key, rps_p99: dict) -> Row:
    row = Row(key, key, "/")
    row.results = {c: Result(int(rps * 10), 10.0, 1.0, p99, 1.0, 0) for c, (rps, p99) in rps_p99.items()}
    return row


def test_targets_say_which_are_missed_and_by_how_much():
    config = Config("PostgreSQL", "postgresql", "postgres://", 1000)
    config.rows = [
        _row("durable", {8: (1000, 10.0), 32: (1000, 40.0)}),
        _row("webhook", {8: (700, 12.0), 32: (500, 100.0)}),
        _row("slow", {8: (700, 12.0), 32: (500, 130.0)}),
    ]
    config.queries = {
        "new_event": 3,
        "new_event_round_trips": 4,
        "duplicate": 2,
        "duplicate_round_trips": 4,
        "banner_extra": 1,
    }
    large = Config("PostgreSQL 1M", "postgresql", "postgres://", 1_000_000)
    large.rows = [_row("webhook", {8: (600, 12.0), 32: (500, 100.0)})]

    verdicts = {t.name.split(": ", 1)[-1]: (t.ok, t.detail) for t in targets([config, large])}

    assert verdicts["webhook req/s >= 0.6x durable at c=8"] == (True, "0.70x")
    assert verdicts["webhook req/s >= 0.6x durable at c=32"] == (False, "0.50x")
    assert verdicts["webhook p99 <= 1.5x durable's at c=32"] == (False, "2.50x")
    assert verdicts["slow-Mono p99 <= 1.2x fast-Mono p99"] == (False, "worst 1.30x at c=32")
    assert verdicts["<= BEGIN + one statement + COMMIT per new flag"] == (False, "4 round trip(s)")
    assert verdicts["<= 2 statements per duplicate"] == (True, "2 (4 round trips)")
    size = "per-event time with 1,000,000 accounts <= 1.1x with 1,000"
    assert verdicts[f"{size} at c=8"] == (False, "1.17x (1/req/s of row 3)")
    assert verdicts[f"{size} at c=32"] == (True, "1.00x (1/req/s of row 3)")


def test_a_loaded_machine_is_refused_unless_asked_and_a_row_records_the_load_it_waited_out(monkeypatch):
    monkeypatch.setattr(run.os, "getloadavg", lambda: (1.4, 0.9, 0.5))
    with pytest.raises(SystemExit, match=r"load average is 1\.40"):
        run.main(["--database", "postgres"])

    monkeypatch.setattr(run.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(run, "SETTLE_SECONDS", 0)
    assert run.settled_load() == 1.4  # still loaded once the wait is over: the row records it


@pytest.fixture
def mono_stub():
    server = stub.serve(0, delay=0)  # no delay here: what matters is that the real client accepts it
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def test_stub_answers_the_real_mono_client_the_way_mono_does(mono_stub):
    url, server = mono_stub
    client = MonoClient(secret_key="test_sk_bench", base_url=url, api_version="v2", max_retries=0)

    token = client.reauthorise("bench0000000000000000001")
    details = client.get_account("bench0000000000000000001")

    assert token.token.startswith("bench-token-")
    assert details.account_id == "bench0000000000000000001"
    assert details.data_status == "AVAILABLE"
    assert server.calls == 2
