"""Flag-to-email latency: from Mono's webhook leaving the client to the email reaching the mail server.

    .venv/bin/python bench/flag_to_email.py [--events 300] [--rate 10] [--accounts 1000]
                                            [--code PATH] [--database-url postgres://…/monolink_bench_latency]

Real processes, as in production (Procfile): gunicorn (2 sync workers) serving the app, the mail
worker (`run_worker --queues=mail,maintenance`, polling every second), PostgreSQL, and a real SMTP
server (aiosmtpd on 127.0.0.1, in this process). `--events` distinct `reauthorisation_required`
events, each for a different account, are sent one at a time at `--rate` per second; the figure per
event is the time from just before its POST to its email's DATA at the mail server, on one clock.

`--code PATH` runs another checkout of the project (e.g. a `git worktree` of an earlier commit) with
this virtualenv, so two versions are measured the same way on the same machine: run it once per
version, alternately. The database (a bench's own name) is dropped and created again each run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.admin_lists import drop_database, ensure_database  # noqa: E402
from bench.common import free_port, refuse_unless_bench  # noqa: E402

VENV_BIN = Path(sys.executable).parent


class Sink:
    """The mail server: when each recipient's first message arrived (time.time(), this process)."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        with self.changed:
            for recipient in envelope.rcpt_tos:
                self.arrived.setdefault(recipient.lower(), now)
            self.changed.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.arrived) < count and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())


def event_body(number: int, run: str) -> bytes:
    return json.dumps(
        {
            "event": "mono.events.reauthorisation_required",
            "event_id": f"latency-{run}-{number}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "data": {"account": {"_id": f"bench{number:019d}", "institution": {"name": "Bench Bank"}}},
        }
    ).encode()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10, help="events per second, sent one at a time")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/monolink_bench_latency")
    args = parser.parse_args()
    refuse_unless_bench(args.database_url)
    if args.events > args.accounts:
        raise SystemExit("--events must not exceed --accounts: each event flags a different account")
    code = args.code.resolve()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True)
    from aiosmtpd.controller import Controller

    sink, smtp_port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    secret = secrets.token_urlsafe(32)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MONO_", "TASKS_", "EMAIL_"))},
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database_url,
        "CONN_MAX_AGE_SECONDS": "600",
        "MONO_WEBHOOK_SECRET": secret,
        "MONO_SANDBOX": "true",  # the email job never calls Mono; nothing here may reach the internet
        "TASKS_BACKEND": "procrastinate",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "LOG_LEVEL": "WARNING",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    drop_database(args.database_url)  # seeded afresh every run: the checked name is a bench's own
    ensure_database(args.database_url)
    python = str(VENV_BIN / "python")
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=code, env=env, check=True)
    subprocess.run([python, "-m", "bench.dbtool", "seed", f"--accounts={args.accounts}"], cwd=code, env=env, check=True)

    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    web = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "monolink.wsgi:application", "--workers=2", f"--bind=127.0.0.1:{port}"],
        cwd=code,
        env=env,
        **quiet,
    )
    worker = subprocess.Popen(
        [python, "manage.py", "run_worker", "--queues=mail,maintenance"], cwd=code, env=env, **quiet
    )
    try:
        url = f"http://127.0.0.1:{port}/webhooks/mono/"
        headers = {"content-type": "application/json", "mono-webhook-secret": secret}
        _wait_until_up(f"http://127.0.0.1:{port}/healthz")
        time.sleep(3)  # the worker's start-up (imports, first poll) is not what is measured
        load_before = os.getloadavg()[0]
        run = secrets.token_hex(4)
        sent: dict[str, float] = {}
        interval = 1 / args.rate
        started = time.monotonic()
        for index in range(args.events):
            number = 1 + index * (args.accounts // args.events)  # spread over the table, one per account
            time.sleep(max(0.0, started + index * interval - time.monotonic()))
            sent[f"bench{number}@example.com"] = time.time()
            request = urllib.request.Request(url, data=event_body(number, run), headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (127.0.0.1)
                if response.status != 200:
                    raise SystemExit(f"the webhook answered {response.status}")
        sink.wait_for(len(sent), timeout=120)
        load_after = os.getloadavg()[0]
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            process.wait(30)
        controller.stop()

    missing = [address for address in sent if address not in sink.arrived]
    latencies = [(sink.arrived[address] - at) * 1000 for address, at in sent.items() if address in sink.arrived]
    print(f"flag-to-email latency, commit {commit.stdout.strip() or '?'} ({code})")
    print(f"  {args.events} events at {args.rate:g}/s over {args.accounts:,} accounts; mail worker polling every 1 s")
    print(f"  emails received {len(latencies)}/{len(sent)}" + (f"; MISSING {len(missing)}" if missing else ""))
    if latencies:
        print(
            f"  ms: p50 {statistics.median(latencies):.0f}  p90 {percentile(latencies, 0.9):.0f}  "
            f"p99 {percentile(latencies, 0.99):.0f}  max {max(latencies):.0f}  mean {statistics.fmean(latencies):.0f}"
        )
    print(f"  load average {load_before:.2f} before the events, {load_after:.2f} after")
    if missing:
        raise SystemExit(1)


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (127.0.0.1)
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s")


if __name__ == "__main__":
    main()
