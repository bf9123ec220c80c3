"""monolink's webhook benchmark: one command, one printed table.

    .venv/bin/python bench/run.py [--database postgres|sqlite|both] [--duration 10] [--accounts 1000,1000000]

For each database (and, on PostgreSQL, each account count) it creates a dedicated database, migrates
and seeds it, starts the app under gunicorn on 127.0.0.1 (2 sync workers, DEBUG off, persistent
connections, TASKS_BACKEND=procrastinate as in production, in_process on SQLite, the real Mono client
pointed at a local stub),
drives it with wrk from a second process, and prints one table: requests per second, p50 and p99 at
concurrency 1, 8 and 32 for every row, the ratios to the `bare` and `durable` rows, the SQL queries per
event and per page, and the targets of issues 8 and 14 with PASS/MISS. Everything stays on 127.0.0.1 and every
load is bounded in time. Nothing is written outside the bench database and a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stub  # noqa: E402  (stdlib only: safe to import before Django is configured)

VENV_BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "lua" / "events.lua"
WORKERS = 2
CONCURRENCIES = (1, 8, 32)
SLOW_MONO_SECONDS = 2.0
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/monolink_bench"
# The figures are a verdict only on a quiet machine: a 1-minute load average under this, read before
# the run and before every load (os.getloadavg()). Above it the run refuses to start, or with
# --allow-loaded runs and marks every figure and target as taken on a loaded machine.
QUIET_LOAD = 1.0
SETTLE_SECONDS = 30  # how long a row waits for the load the previous row left to fall under QUIET_LOAD
# Events for the `webhook` rows go to this many accounts spread evenly over the table, whatever its
# size, so the 1,000 and 1,000,000 account runs do the same work on tables of different sizes.
WORKING_SET = 1000


# --- results -----------------------------------------------------------------------------------


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int
    load: float = 0.0  # 1-minute load average when the run started: other work on the machine skews figures
    stored: int = 0  # rows recorded during the run (webhook deliveries, durable rows): the work was done
    tasks: int = 0  # tasks queued during the run (token mint, notification)
    mono_calls: int = 0  # calls the Mono stub received during the run: 0 unless tasks run in the request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def rps_text(self) -> str:
        return f"{self.rps:.0f}" if self.rps >= 10 else f"{self.rps:.1f}"  # row 4b is ~1 req/s


def parse_wrk(output: str) -> Result:
    """The JSON line bench/lua/events.lua prints from wrk's done() hook."""
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line[len("BENCH_JSON ") :])
            errors = sum(
                data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
            )
            return Result(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                mean_ms=data["mean_us"] / 1000,
                errors=errors,
            )
    raise ValueError("wrk printed no BENCH_JSON line (did the Lua script's done() run?)")


@dataclass
class Row:
    key: str
    label: str
    path: str
    mode: str = "distinct"  # or "duplicate"
    targets: int = WORKING_SET
    stride: int = 1
    slow_mono: bool = False
    immediate: bool = False
    results: dict[int, Result] = field(default_factory=dict)


@dataclass
class Config:
    name: str
    vendor: str  # "postgresql" | "sqlite"
    database_url: str
    accounts: int
    rows: list[Row] = field(default_factory=list)
    queries: dict = field(default_factory=dict)
    seed_seconds: float = 0.0

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)


def make_rows(accounts: int, *, immediate: bool) -> list[Row]:
    working_set = min(WORKING_SET, accounts)
    stride = max(1, accounts // working_set)
    webhook = {"path": "/webhooks/mono/", "targets": working_set, "stride": stride}
    rows = [
        Row("bare", "1 bare (no database)", "/bench/bare/"),
        Row("durable", "2 durable (1 INSERT, commit)", "/bench/durable/"),
        Row("webhook", "3 webhook", **webhook),
        Row("slow", "4 webhook, Mono answers in 2 s", slow_mono=True, **webhook),
        Row("duplicate", "5 duplicate (same event)", "/webhooks/mono/", mode="duplicate"),
    ]
    if accounts > WORKING_SET:
        rows.append(Row("spread", f"3b webhook, new flags over all {accounts:,}", "/webhooks/mono/", targets=accounts))
    if immediate:
        rows.append(Row("immediate", "4b as 4, TASKS_BACKEND=in_process", slow_mono=True, immediate=True, **webhook))
    return rows


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen | None) -> None:
    """Stop a process we started and everything it spawned (its own process group)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def run_checked(cmd: list[str], env: dict, log: Path, *, timeout: float = 900) -> str:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    with log.open("a") as out:
        out.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 (http://127.0.0.1)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    """gunicorn serving the app with the bench URLconf, in its own process group."""

    def __init__(self, env: dict, workdir: Path, tag: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gunicorn-{tag}.log"
        # The project's gunicorn.conf.py (production's logging and proxy settings) is read from the
        # working directory as in production; the command line overrides what must be fixed here.
        cmd = [
            str(VENV_BIN / "gunicorn"),
            "monolink.wsgi:application",
            f"--workers={WORKERS}",
            f"--bind=127.0.0.1:{self.port}",
            "--timeout=60",
            # No recycling: at these rates max_requests=2000 would restart a worker every second or two,
            # and the table would measure Django's start-up instead of the request.
            "--max-requests=0",
        ]
        self.process = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            try:
                status, _ = http("GET", self.url + "/bench/bare/", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        stop(self.process)
        raise SystemExit(f"gunicorn did not answer within 30 s; see {self.log}")

    def stop(self) -> None:
        stop(self.process)


# --- the run -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.log = workdir / "run.log"
        self.secret = secrets.token_urlsafe(32)
        self.stub = stub.serve(free_port(), SLOW_MONO_SECONDS)
        self.stub_url = f"http://127.0.0.1:{self.stub.server_address[1]}"
        self.servers: list[Server] = []
        self.run_id = secrets.token_hex(4)  # event ids never collide with an earlier run's
        self.max_load = os.getloadavg()[0]  # the highest 1-minute load average seen before any load

    def env(self, config: Config, *, immediate: bool = False) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MONO_", "DATABASE_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "DJANGO_READ_DOT_ENV_FILE": "false",  # a developer's .env must not change the figures
                "DEBUG": "false",
                "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
                "ALLOWED_HOSTS": "127.0.0.1,testserver",  # testserver: the in-process query count
                "SECURE_SSL_REDIRECT": "false",
                "DATABASE_URL": config.database_url,
                "CONN_MAX_AGE_SECONDS": "600",
                "MONO_WEBHOOK_SECRET": self.secret,
                # A fake test key switches the sandbox off: the real MonoClient calls the stub.
                "MONO_SECRET_KEY": "test_sk_bench_not_a_real_key",
                "MONO_PUBLIC_KEY": "test_pk_bench_not_a_real_key",
                "MONO_API_BASE_URL": self.stub_url,
                "MONO_REAUTH_MODE": "token",
                # Production runs tasks on a worker: the webhook only queues them (one INSERT each).
                # In-process they run inside the request after commit (and the refresh waits on Mono);
                # SQLite has nothing else (Procrastinate needs PostgreSQL).
                "TASKS_BACKEND": "in_process" if immediate or config.vendor != "postgresql" else "procrastinate",
                "TASKS_ALLOW_IN_PROCESS": "true",
                "LOG_LEVEL": "INFO",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        return env

    def set_mono_delay(self, seconds: float) -> None:
        self.stub.delay = seconds

    def check_stub(self) -> float:
        self.set_mono_delay(SLOW_MONO_SECONDS)
        started = time.monotonic()
        status, _ = http("POST", self.stub_url + "/accounts/x/reauthorise", b"", {"mono-sec-key": "test_sk_bench"})
        took = time.monotonic() - started
        if status != 200 or took < SLOW_MONO_SECONDS * 0.95:
            raise SystemExit(f"the slow Mono stub answered {status} in {took:.2f} s; expected 200 after ~2 s")
        print(f"slow Mono stub at {self.stub_url}: a direct call took {took:.2f} s (status {status})", flush=True)
        self.stub.calls = 0
        return took

    # database preparation

    def prepare(self, config: Config) -> None:
        print(f"\n== {config.name}: preparing the database", flush=True)
        if config.vendor == "postgresql":
            recreate_postgres(config.database_url)
        else:
            Path(config.database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        env = self.env(config)
        run_checked([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env, self.log)
        started = time.monotonic()
        print(
            run_checked([sys.executable, "-m", "bench.dbtool", "seed", f"--accounts={config.accounts}"], env, self.log),
            end="",
        )
        config.seed_seconds = time.monotonic() - started
        sql_log = self.workdir / f"queries-{config.vendor}-{config.accounts}.sql"
        out = run_checked([sys.executable, "-m", "bench.dbtool", "queries", f"--sql-log={sql_log}"], env, self.log)
        config.queries = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))[11:])
        q = config.queries
        print(
            f"  SQL statements: new event {q['new_event']} (HTTP {q['new_event_status']}), duplicate {q['duplicate']} "
            f"(HTTP {q['duplicate_status']}), signed-in page {q['page']} (HTTP {q['page_status']}; "
            f"{q['banner_extra']} for the re-auth banner); all of them in {sql_log}",
            flush=True,
        )

    def reset(self, config: Config) -> None:
        run_checked([sys.executable, "-m", "bench.dbtool", "reset"], self.env(config), self.log)

    # load

    def measure(self, config: Config) -> None:
        groups = [False, True] if any(r.immediate for r in config.rows) else [False]
        for immediate in groups:
            rows = [r for r in config.rows if r.immediate == immediate]
            env = self.env(config, immediate=immediate)
            tag = f"{config.vendor}-{config.accounts}-{'in_process' if immediate else 'queued'}"
            server = Server(env, self.workdir, tag)
            self.servers.append(server)
            try:
                print(
                    f"  gunicorn ({WORKERS} workers, TASKS_BACKEND={env['TASKS_BACKEND']}) on {server.url}", flush=True
                )
                # Every row at one concurrency, then the next: rows compared side by side run minutes
                # apart at most, on tables of nearly the same size and under the same background load.
                for concurrency in CONCURRENCIES:
                    for row in rows:
                        self.set_mono_delay(SLOW_MONO_SECONDS if row.slow_mono else 0.0)
                        self.reset(config)
                        self.precheck(server, row)
                        calls = self.stub.calls
                        load = settled_load(wait=self.max_load < QUIET_LOAD)
                        self.max_load = max(self.max_load, load)
                        before = counts(config)
                        row.results[concurrency] = r = self.wrk(server, row, concurrency, tag)
                        time.sleep(0.5)  # let requests in flight when wrk stopped finish
                        after = counts(config)
                        r.load, r.stored, r.tasks = load, after[0] - before[0], after[1] - before[1]
                        r.mono_calls = self.stub.calls - calls
                        print(
                            f"  {row.label:<44} c={concurrency:<3} {r.rps_text:>8} req/s  p50 {r.p50_ms:7.1f} ms"
                            f"  p99 {r.p99_ms:7.1f} ms  errors {r.errors}  stored {r.stored}  tasks {r.tasks}"
                            f"  Mono calls {r.mono_calls}  load {r.load:.1f}",
                            flush=True,
                        )
            finally:
                server.stop()
                self.servers.remove(server)

    def precheck(self, server: Server, row: Row) -> None:
        """One request by hand before the load: the row must answer 200 (wrong secret, SSL redirect or a
        broken view would otherwise show up as a fast row of errors)."""
        from_lua_event = {
            "event": "mono.events.reauthorisation_required",
            "event_id": f"bench-dup-{self.nonce(row)}"
            if row.mode == "duplicate"
            else f"bench-pre-{secrets.token_hex(8)}",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {
                "account": {"_id": f"bench{1:019d}", "name": "BENCH ACCOUNT", "institution": {"name": "Bench Bank"}}
            },
        }
        body = json.dumps(from_lua_event, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "mono-webhook-secret": self.secret}
        status, answer = http("POST", server.url + row.path, body, headers, timeout=30)
        if status != 200:
            raise SystemExit(f"{row.label}: a single request answered {status}: {answer[:300]!r}; see {server.log}")

    def nonce(self, row: Row) -> str:
        return f"{self.run_id}-{row.key}"

    def wrk(self, server: Server, row: Row, concurrency: int, tag: str) -> Result:
        threads = 1 if concurrency == 1 else 2
        nonce = f"{self.nonce(row)}-{tag}-{concurrency}" if row.mode == "distinct" else self.nonce(row)
        cmd = [
            shutil.which("wrk") or "/usr/bin/wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{self.args.duration}s",
            "--timeout=10s",
            "-s",
            str(LUA),
            server.url + row.path,
            "--",
            row.mode,
            self.secret,
            nonce,
            str(row.targets),
            str(row.stride),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.duration + 60)
        with self.log.open("a") as out:
            out.write(f"$ wrk ... {row.key} c={concurrency}\n{proc.stdout}{proc.stderr}\n")
        if proc.returncode != 0:
            raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr[-1000:]}")
        return parse_wrk(proc.stdout)

    def close(self) -> None:
        for server in list(self.servers):
            server.stop()
        self.stub.shutdown()


def settled_load(*, wait: bool = True) -> float:
    """The 1-minute load average, after waiting up to SETTLE_SECONDS for it to fall under QUIET_LOAD
    (the previous row's own load decays; someone else's does not). No wait once a run is loaded."""
    deadline = time.monotonic() + (SETTLE_SECONDS if wait else 0)
    while (load := os.getloadavg()[0]) >= QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(1)
    return load


def counts(config: Config) -> tuple[int, int]:
    """(rows stored: webhook deliveries + durable rows, queued tasks) straight from the database, without a
    Django start-up per run."""
    sql = [
        "SELECT (SELECT count(*) FROM webhooks_webhookevent) + (SELECT count(*) FROM bench_durable)",
        "SELECT count(*) FROM procrastinate_jobs" if config.vendor == "postgresql" else "SELECT 0",
    ]
    if config.vendor == "postgresql":
        import psycopg

        with psycopg.connect(config.database_url) as conn:
            return tuple(conn.execute(q).fetchone()[0] for q in sql)
    import sqlite3

    with sqlite3.connect(config.database_url.removeprefix("sqlite:///"), timeout=30) as conn:
        return tuple(conn.execute(q).fetchone()[0] for q in sql)


def recreate_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not re.fullmatch(r"[a-z0-9_]*bench[a-z0-9_]*", name):
        raise SystemExit(f"refusing to drop {name!r}: the benchmark database's name must contain 'bench'")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- the table ---------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def table(configs: Iterable[Config]) -> str:
    head = (
        f"{'database, accounts':<22} {'row':<44} {'c':>3} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'/bare':>6} {'/durable':>8} {'p99/dur':>7} {'err':>4} {'stored':>7} {'tasks':>6} {'load':>5}"
    )
    lines = [head, "-" * len(head)]
    for config in configs:
        bare, durable = config.row("bare"), config.row("durable")
        for row in config.rows:
            for c, r in sorted(row.results.items()):
                b = bare.results.get(c) if bare else None
                d = durable.results.get(c) if durable else None
                lines.append(
                    f"{config.name:<22} {row.label:<44} {c:>3} {r.rps_text:>7} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
                    f"{ratio(r.rps, b.rps) if b else '-':>6} {ratio(r.rps, d.rps) if d else '-':>8} "
                    f"{ratio(r.p99_ms, d.p99_ms) if d else '-':>7} {r.errors:>4} {r.stored:>7} {r.tasks:>6} "
                    f"{r.load:>5.1f}"
                )
        lines.append("")
    for config in configs:
        q = config.queries
        if q:
            lines.append(
                f"SQL statements ({config.name}): new event {q['new_event']} "
                f"({q['new_event_round_trips']} round trips, BEGIN/COMMIT included), duplicate {q['duplicate']} "
                f"({q['duplicate_round_trips']}), signed-in page {q['page']} of which the re-auth banner "
                f"{q['banner_extra']}"
            )
    return "\n".join(lines)


@dataclass
class Target:
    name: str
    ok: bool
    detail: str


def _ratios(a: Row | None, b: Row | None, value, concurrencies=CONCURRENCIES) -> list[tuple[float, int]]:
    if not a or not b:
        return []
    return [(value(a.results[c]) / value(b.results[c]), c) for c in concurrencies if c in a.results and c in b.results]


def targets(configs: list[Config]) -> list[Target]:
    """The targets of issues 8, 14 and 24, on PostgreSQL; the detail says by how much a missed one is missed."""
    out: list[Target] = []
    pg = [c for c in configs if c.vendor == "postgresql"]
    for config in pg:
        webhook, durable, slow = config.row("webhook"), config.row("durable"), config.row("slow")
        for x, c in _ratios(webhook, durable, lambda r: r.rps, (8, 32)):
            out.append(Target(f"{config.name}: webhook req/s >= 0.6x durable at c={c}", x >= 0.6, f"{x:.2f}x"))
        for x, _c in _ratios(webhook, durable, lambda r: r.p99_ms, (32,)):
            out.append(Target(f"{config.name}: webhook p99 <= 1.5x durable's at c=32", x <= 1.5, f"{x:.2f}x"))
        if slow_ratios := _ratios(slow, webhook, lambda r: r.p99_ms):
            x, c = max(slow_ratios)
            out.append(
                Target(f"{config.name}: slow-Mono p99 <= 1.2x fast-Mono p99", x <= 1.2, f"worst {x:.2f}x at c={c}")
            )
        if q := config.queries:
            trips = q["new_event_round_trips"]
            out.append(
                Target(
                    f"{config.name}: <= BEGIN + one statement + COMMIT per new flag",
                    trips <= 3,
                    f"{trips} round trip(s)",
                )
            )
            out.append(
                Target(
                    f"{config.name}: <= 2 statements per duplicate",
                    q["duplicate"] <= 2,
                    f"{q['duplicate']} ({q['duplicate_round_trips']} round trips)",
                )
            )
            out.append(
                Target(
                    f"{config.name}: <= 1 query for the re-auth banner", q["banner_extra"] <= 1, str(q["banner_extra"])
                )
            )
    if len(pg) >= 2:
        small, large = min(pg, key=lambda c: c.accounts), max(pg, key=lambda c: c.accounts)
        # per-event time is 1 / req/s: large's time over small's is small's req/s over large's
        for x, c in _ratios(small.row("webhook"), large.row("webhook"), lambda r: r.rps):
            out.append(
                Target(
                    f"per-event time with {large.accounts:,} accounts <= 1.1x with {small.accounts:,} at c={c}",
                    x <= 1.1,
                    f"{x:.2f}x (1/req/s of row 3)",
                )
            )
    return out


def machine() -> str:
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk = subprocess.run([shutil.which("wrk") or "wrk", "--version"], capture_output=True, text=True).stdout.split(
        " ["
    )[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.0f} GB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {wrk}"
    )


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="monolink webhook benchmark (issue 8)")
    parser.add_argument("--database", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (5-60)")
    parser.add_argument(
        "--accounts", default="1000,1000000", help="account counts for PostgreSQL; SQLite uses the first"
    )
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--no-immediate", action="store_true", help="skip row 4b (immediate tasks, not production)")
    parser.add_argument("--rows", help="only these rows, e.g. bare,durable (default: all)")
    parser.add_argument(
        "--allow-loaded",
        action="store_true",
        help=f"run even with a load average >= {QUIET_LOAD}; every figure is then marked as not a verdict",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 60:
        parser.error("--duration must be between 1 and 60 seconds")
    counts = [int(n.replace("_", "")) for n in args.accounts.split(",") if n]
    if (load := os.getloadavg()[0]) >= QUIET_LOAD and not args.allow_loaded:
        raise SystemExit(
            f"Refusing to measure: the 1-minute load average is {load:.2f} (>= {QUIET_LOAD}), so other work "
            "would set the figures. Wait for a quiet machine, or pass --allow-loaded for relative figures only."
        )
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: sudo apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="monolink-bench-"))
    configs: list[Config] = []
    if args.database in ("postgres", "both"):
        for n in counts:
            configs.append(Config(f"PostgreSQL {n:,}", "postgresql", args.postgres_url, n))
    if args.database in ("sqlite", "both"):
        configs.append(Config(f"SQLite {counts[0]:,}", "sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}", counts[0]))
    for config in configs:
        # Row 4b only once per database: it shows a point (the answer would wait on Mono), not a figure.
        first = config is next(c for c in configs if c.vendor == config.vendor)
        config.rows = make_rows(config.accounts, immediate=first and not args.no_immediate)
        if args.rows:
            config.rows = [r for r in config.rows if r.key in args.rows.split(",")]

    started = time.monotonic()
    print(f"monolink benchmark: logs in {workdir}", flush=True)
    # Ctrl-C, kill and a closed terminal all go through `finally`: no gunicorn is left behind.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job starts with SIGINT ignored
    bench = Bench(args, workdir)
    try:
        bench.check_stub()
        for config in configs:
            bench.prepare(config)
            bench.measure(config)
    finally:
        bench.close()

    print()
    print(f"Machine: {machine()}")
    if any(c.vendor == "postgresql" for c in configs):
        print(f"PostgreSQL {postgres_version(args.postgres_url)}; ", end="")
    print(
        f"gunicorn {WORKERS} sync workers (gunicorn.conf.py, no max_requests), CONN_MAX_AGE=600, DEBUG=false, "
        "TASKS_BACKEND=procrastinate on PostgreSQL (except 4b), in_process on SQLite, "
        f"wrk -d{args.duration}s on 127.0.0.1; webhook rows 3-4 target {WORKING_SET:,} accounts spread over the table."
    )
    loaded = bench.max_load >= QUIET_LOAD
    if loaded:
        print(
            f"LOADED RUN: the 1-minute load average reached {bench.max_load:.2f} (>= {QUIET_LOAD}) before a "
            "load: figures are relative only and no target below is a verdict."
        )
    else:
        print(f"Quiet run: the 1-minute load average stayed under {QUIET_LOAD} before every load.")
    print()
    print(table(configs))
    print()
    print("Targets (issues 8, 14 and 24, PostgreSQL)" + (" -- LOADED RUN, not a verdict:" if loaded else ":"))
    for target in targets(configs):
        verdict = ("PASS" if target.ok else "MISS") + ("?" if loaded else "")
        print(f"  {verdict:<5} {target.name}: {target.detail}")
    print(f"\nTotal time {time.monotonic() - started:.0f} s; logs and SQL statements in {workdir}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, nothing printed", file=sys.stderr)
        sys.exit(130)
