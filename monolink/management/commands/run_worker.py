"""`python manage.py run_worker`: a Procrastinate worker that outlives a database outage.

Procrastinate stops its worker, cleanly and with exit code 0, as soon as one of its side tasks
(heartbeat, periodic deferrer) meets a dropped connection: a failover or a 5-second network blip
would leave every worker dead until someone restarts it. Platform supervisors restart on failure,
not on a clean exit, so this command restarts the worker itself, with a growing pause, until it is
asked to stop (SIGTERM/SIGINT: the running jobs finish first, as with Procrastinate's own command).
Nothing in Procrastinate or a maintained add-on does this; it is a loop around its public Worker.

Each queue gets a Worker of its own in this process, with its own job slots (`slots_for`): with
every Mono slot held by a hanging Mono, an email still has a free slot. If one of them stops, all
stop and start again together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand
from procrastinate.worker import Worker

from monolink.taskqueue import QUEUE_MAIL, QUEUE_MAINTENANCE, QUEUES, app

log = logging.getLogger("monolink.worker")

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
HEALTHY_RUN = 60.0  # a worker that ran this long before stopping starts over with the short pause
MAINTENANCE_SLOTS = 2  # the reaper every 5 s, and the reconciler every minute beside it


def slots_for(queue: str, concurrency: int | None) -> int:
    """Jobs the queue's worker runs at once: mail and maintenance have their own, fixed by settings."""
    if queue == QUEUE_MAIL:
        return settings.TASKS_MAIL_CONCURRENCY
    if queue == QUEUE_MAINTENANCE:
        return MAINTENANCE_SLOTS
    return concurrency or settings.PROCRASTINATE_WORKER_DEFAULTS["concurrency"]


class Command(BaseCommand):
    help = "Run background tasks (Procrastinate); restarts itself after a database outage."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues", default=",".join(QUEUES), help=f"Comma-separated queues (default: {','.join(QUEUES)})."
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            help="Mono's jobs run at once (default: TASKS_CONCURRENCY); mail has TASKS_MAIL_CONCURRENCY.",
        )

    def handle(self, *args, queues: str, concurrency: int | None, **options):
        slots = {q.strip(): slots_for(q.strip(), concurrency) for q in queues.split(",") if q.strip()}
        asyncio.run(_supervise(slots))


async def _supervise(slots: dict[str, int]) -> None:
    stop_requested = asyncio.Event()
    running: list[Worker] = []

    def request_stop() -> None:
        stop_requested.set()
        for worker in running:
            worker.stop()  # graceful: running jobs finish, nothing new starts

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    # Procrastinate runs a synchronous job in the loop's default pool (min(32, CPUs + 4) threads: 6
    # on two cores): hung Mono jobs must never take the threads the other queues' slots need.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=sum(slots.values()) + 1, thread_name_prefix="job"))

    pause = FIRST_PAUSE
    with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
        worker_app.perform_import_paths()
        while not stop_requested.is_set():
            started = time.monotonic()
            try:
                async with worker_app.open_async():
                    defaults = {**worker_app.worker_defaults, "install_signal_handlers": False}
                    running[:] = [
                        Worker(app=worker_app, **{**defaults, "queues": [queue], "concurrency": count})
                        for queue, count in slots.items()
                    ]
                    await _run_together(running)
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


async def _run_together(workers: list[Worker]) -> None:
    """Run the workers until all have stopped; the first to stop (asked to or not) stops the rest."""
    tasks = [asyncio.create_task(worker.run(), name=f"worker-{','.join(worker.queues or [])}") for worker in workers]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for worker in workers:
            worker.stop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result
