"""Real Procrastinate workers for the tests: `manage.py run_worker` processes against pytest-django's
PostgreSQL test database, and an SMTP server (aiosmtpd) on 127.0.0.1 that follows a plan.

tests/conftest.py's `workers` and `smtp_sink` fixtures start them; tests/test_worker.py,
test_reconcile_worker.py, test_link_worker.py and browser/test_link_journey.py use them. Only the
timing settings are shortened (tests/worker_settings.py: heartbeat, stall limit, retry base) so a
test takes seconds; docs/tasks.md gives the production values.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from .webhooks_support import post

ROOT = Path(__file__).resolve().parent.parent
STALLED_AFTER = 2.0  # seconds without a heartbeat before a worker counts as dead (tests/worker_settings.py)


def database_url() -> str:
    """A DATABASE_URL for pytest-django's test database, for another process."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(condition: Callable[[], object], *, timeout: float, what: str) -> float:
    """Poll until `condition()` is true; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started


class SmtpSink:
    """A mail server on 127.0.0.1 that follows a plan, one step per message: "ok", "451" or "stall"."""

    def __init__(self, plan: list[str]):
        self.plan = list(plan)
        self.received: list[str] = []
        self.attempts = 0
        self.stalling = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        step = self.plan.pop(0) if self.plan else "ok"
        if step == "451":
            return "451 4.3.0 Try again later"
        if step == "stall":  # the worker sits in smtplib waiting for our answer: kill it now
            self.stalling.set()
            await asyncio.sleep(120)
            return "451 4.3.0 Too late"
        self.received.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


class Workers:
    """Starts `manage.py procrastinate worker` processes; kills what is left at the end."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []

    def start(
        self, sink: SmtpSink, *, queues: str = "mono,mail,maintenance", overrides: dict[str, str | None] | None = None
    ) -> subprocess.Popen:
        """`overrides` replace the environment below; a None value removes that variable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MONO_", "TASKS_", "EMAIL_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "tests.worker_settings",  # production's, with shorter timings
                "DJANGO_READ_DOT_ENV_FILE": "false",
                "DEBUG": "false",
                "SECRET_KEY": settings.SECRET_KEY,
                "MONO_WEBHOOK_SECRET": settings.MONO_WEBHOOK_SECRET,
                "MONO_SANDBOX": "true",  # the sandbox stands in for Mono in the worker
                "DATABASE_URL": database_url(),
                "TASKS_BACKEND": "procrastinate",
                "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
                "EMAIL_TIMEOUT_SECONDS": "60",
                "LOG_FORMAT": "json",
            }
        )
        for name, value in (overrides or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        log = (self.tmp_path / f"worker-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(  # noqa: S603 (our own manage.py, fixed arguments)
            [sys.executable, "manage.py", "run_worker", f"--queues={queues}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def log(self, index: int) -> str:
        return (self.tmp_path / f"worker-{index}.log").read_text()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def deliver(payload: dict) -> int:
    """Through the real endpoint (secret check, CSRF enforced); the jobs it queues commit with it."""
    return post(payload).status_code


PERIODIC_TASKS = [
    "monolink.taskqueue.retry_stalled_jobs",
    "accounts.tasks.reconcile_follow_ups",
    "linking.tasks.expire_link_codes",
]


def our_jobs():
    """The jobs our code queued (the periodic reaper's, reconciler's and link-code sweep's come and go)."""
    return ProcrastinateJob.objects.exclude(task_name__in=PERIODIC_TASKS)


def no_jobs_left() -> bool:
    return not our_jobs().filter(status__in=["todo", "doing"]).exists()


def start_worker_against(stub_mono, started: Workers, start_sink) -> None:
    """A worker on the Mono queue whose client calls the stub Mono (the real client, no sandbox)."""
    started.start(
        start_sink(),
        queues="mono,maintenance",
        overrides={
            "MONO_SANDBOX": None,
            "MONO_SECRET_KEY": stub_mono.secret_key,
            "MONO_PUBLIC_KEY": "test_pk_stub",
            "MONO_API_BASE_URL": stub_mono.url,  # no retries: tests/worker_settings.py
        },
    )
