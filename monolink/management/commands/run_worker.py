"""`python manage.py run_worker`: a Procrastinate worker that outlives a database outage.

Procrastinate stops its worker, cleanly and with exit code 0, as soon as one of its side tasks
(heartbeat, periodic deferrer) meets a dropped connection: a failover or a 5-second network blip
would leave every worker dead until someone restarts it. Platform supervisors restart on failure,
not on a clean exit, so this command restarts the worker itself, with a growing pause, until it is
asked to stop (SIGTERM/SIGINT: the running jobs finish first, as with Procrastinate's own command).
Nothing in Procrastinate or a maintained add-on does this; it is a loop around its public Worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from django.core.management.base import BaseCommand
from procrastinate.worker import Worker

from monolink.taskqueue import QUEUES, app

log = logging.getLogger("monolink.worker")

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
HEALTHY_RUN = 60.0  # a worker that ran this long before stopping starts over with the short pause


class Command(BaseCommand):
    help = "Run background tasks (Procrastinate); restarts itself after a database outage."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues", default=",".join(QUEUES), help=f"Comma-separated queues (default: {','.join(QUEUES)})."
        )
        parser.add_argument("--concurrency", type=int, help="Jobs run at once (default: TASKS_CONCURRENCY).")

    def handle(self, *args, queues: str, concurrency: int | None, **options):
        worker_options = {"queues": [q.strip() for q in queues.split(",") if q.strip()]}
        if concurrency:
            worker_options["concurrency"] = concurrency
        asyncio.run(_supervise(worker_options))


async def _supervise(worker_options: dict) -> None:
    stop_requested = asyncio.Event()
    running: list[Worker] = []

    def request_stop() -> None:
        stop_requested.set()
        for worker in running:
            worker.stop()  # graceful: running jobs finish, nothing new starts

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)

    pause = FIRST_PAUSE
    with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
        worker_app.perform_import_paths()
        while not stop_requested.is_set():
            started = time.monotonic()
            try:
                async with worker_app.open_async():
                    worker = Worker(
                        app=worker_app,
                        **{**worker_app.worker_defaults, **worker_options, "install_signal_handlers": False},
                    )
                    running[:] = [worker]
                    await worker.run()
            except Exception:
                log.exception("worker failed")
            running.clear()
            if stop_requested.is_set():
                break
            if time.monotonic() - started > HEALTHY_RUN:
                pause = FIRST_PAUSE
            log.warning("worker stopped without being asked to (database outage?); restarting in %.0f s", pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_requested.wait(), timeout=pause)
            pause = min(pause * 2, LONGEST_PAUSE)
    log.info("worker stopped")
