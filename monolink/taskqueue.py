"""Background tasks: Procrastinate on PostgreSQL, or in-process on SQLite for `./dev run`.

Procrastinate keeps its jobs in our own PostgreSQL database, so `defer()` inside a transaction is an
outbox: the state change and its follow-up commit together or vanish together. Its workers
heartbeat; `retry_stalled_jobs` below re-queues the jobs of a worker that stopped heartbeating
(SIGKILL, OOM, a lost machine), so a job is picked up again within TASKS_STALLED_AFTER seconds plus
one reaper tick (docs/tasks.md has the measured figure). A job may therefore run twice: every task
is written to be safe to repeat.

With settings.TASKS_BACKEND == "in_process" (SQLite has no Procrastinate schema) a task runs in
this process right after commit, once, without retries: development only; production refuses it
(monolink.checks, monolink.E002).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate import types as procrastinate_types
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)

IN_PROCESS = "in_process"

# One queue per kind of outside system, so a hanging Mono never holds up email (docs/tasks.md).
QUEUE_MONO = "mono"
QUEUE_MAIL = "mail"
QUEUE_MAINTENANCE = "maintenance"
QUEUES = (QUEUE_MONO, QUEUE_MAIL, QUEUE_MAINTENANCE)

__all__ = [
    *("QUEUES", "QUEUE_MAIL", "QUEUE_MAINTENANCE", "QUEUE_MONO"),
    *("DEFER_JOBS_SQL", "Backoff", "app", "collect_job_id", "collecting_job_ids", "defer", "job_to_defer"),
]


def engine_in_database() -> bool:
    """Is the task engine present, with its job tables in our database? (Procrastinate on PostgreSQL;
    the in-process backend for `./dev run` on SQLite has neither tables nor workers.)"""
    return settings.TASKS_BACKEND != IN_PROCESS and connection.vendor == "postgresql"


def defer(
    task,
    /,
    *,
    lock: str | None = None,
    queueing_lock: str | None = None,
    schedule_in: float | None = None,
    **kwargs: Any,
) -> None:
    """Queue `task(**kwargs)` as part of the caller's transaction.

    `lock`: jobs sharing it never run at the same time (Procrastinate's own lock). `queueing_lock`:
    at most one such job waits in the queue; a second is dropped, as it would do the same work.
    `schedule_in`: seconds before the job may start (in-process there is no clock: it runs at commit).
    """
    if settings.TASKS_BACKEND == IN_PROCESS:
        transaction.on_commit(partial(_run_in_process, task, kwargs))
        return
    when = {"schedule_in": {"seconds": schedule_in}} if schedule_in is not None else {}
    job = task.configure(lock=lock, queueing_lock=queueing_lock, **when)
    if queueing_lock is None:
        job_id = job.defer(**kwargs)  # one INSERT, no savepoint: the webhook's hot path
    else:
        try:
            # A refused queueing lock is a unique violation, which aborts a PostgreSQL transaction:
            # contain it in a savepoint so the caller's transaction carries on.
            with transaction.atomic():
                job_id = job.defer(**kwargs)
        except AlreadyEnqueued:
            log.debug("task %s already queued (lock %s)", task.name, queueing_lock)
            return
    # The caller's one INFO line names the job (a webhook delivery's: collecting_job_ids); this one
    # carries the request id, delivery and Mono event id too (the log context), at DEBUG.
    log.debug("queued task %s job=%s", task.name, job_id, extra={"job": job_id})
    collect_job_id(job_id)


_collected: ContextVar[list[int] | None] = ContextVar("monolink_queued_jobs", default=None)


@contextmanager
def collecting_job_ids() -> Iterator[list[int]]:
    """The ids of the jobs queued inside the block, for the one log line that reports the block."""
    ids: list[int] = []
    token = _collected.set(ids)
    try:
        yield ids
    finally:
        _collected.reset(token)


def collect_job_id(job_id: int) -> None:
    """Report a job queued by defer() or by a statement of the caller's own (DEFER_JOBS_SQL)."""
    ids = _collected.get()
    if ids is not None:
        ids.append(job_id)


# Procrastinate's own defer SQL (its queries.sql, `defer_jobs`) calls this schema function with the
# rows job_to_defer() builds; a statement of ours that must queue a job in the same round trip calls
# it the same way. Pinned by tests/test_taskqueue_defer_in_statement.py against Procrastinate's schema.
DEFER_JOBS_SQL = "procrastinate_defer_jobs_v1(%(jobs)s::procrastinate_job_to_defer_v1[])"


def job_to_defer(task, /, *, lock: str | None = None, **kwargs: Any) -> procrastinate_types.JobToDefer:
    """`task(**kwargs)` as the row DEFER_JOBS_SQL takes (pass `[row]` as `jobs`), built the way
    Procrastinate's defer builds it (its job manager's _defer_jobs_query_kwargs). No queueing lock:
    a refused one is a unique violation, which would abort the whole statement it rides in; use
    defer() for those. Unlike defer(), nothing is logged: the statement's caller logs the job id.
    """
    job = task.configure(lock=lock).make_new_job(**kwargs)
    return procrastinate_types.JobToDefer(
        queue_name=job.queue,
        task_name=job.task_name,
        priority=job.priority,
        lock=job.lock,
        queueing_lock=job.queueing_lock,
        args=Jsonb(job.task_kwargs),
        scheduled_at=job.scheduled_at,
    )


def _run_in_process(task, kwargs: dict) -> None:
    try:
        task(**kwargs)
    except Exception:
        # Development only: nothing retries it, so say so loudly and carry on serving the page.
        log.exception("task %s failed (in-process: not retried)", task.name)


class Backoff(BaseRetryStrategy):
    """Exponential backoff with jitter, for transient failures only.

    Procrastinate's own RetryStrategy has no jitter: after an outage every failed job would come
    back at the same second. The wait doubles from TASKS_RETRY_BASE seconds up to TASKS_RETRY_CAP,
    drawn from the upper half of that ceiling (never an instant retry), and honours Mono's
    Retry-After when it said one. Read at decision time, so settings (and tests) can scale it.
    """

    def __init__(self, *, max_attempts: int, retry_exceptions: Iterable[type[BaseException]]):
        self.max_attempts = max_attempts
        self.retry_exceptions = tuple(retry_exceptions)

    def get_retry_decision(self, *, exception: BaseException, job) -> RetryDecision | None:
        # job.attempts counts the runs before this one, as in Procrastinate's RetryStrategy.
        if job.attempts >= self.max_attempts or not isinstance(exception, self.retry_exceptions):
            return None
        ceiling = min(settings.TASKS_RETRY_CAP, settings.TASKS_RETRY_BASE * 2**job.attempts)
        wait = random.uniform(ceiling / 2, ceiling)
        retry_after = getattr(exception, "retry_after", None)
        if retry_after:
            wait = max(wait, float(retry_after))
        log.warning(
            "task %s job=%s failed (%s), attempt %d of %d; retry in %.1f s",
            job.task_name,
            job.id,
            type(exception).__name__,
            job.attempts + 1,
            self.max_attempts + 1,
            wait,
        )
        return RetryDecision(retry_in={"seconds": wait})


@app.periodic(cron="* * * * * */5")  # every 5 seconds (a 6th cron field is seconds)
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="retry_stalled_jobs")
async def retry_stalled_jobs(timestamp: int) -> int:
    """Put the jobs of dead workers back in the queue (Procrastinate leaves them `doing` forever).

    A worker is dead when its heartbeat (every TASKS_HEARTBEAT seconds) is older than
    TASKS_STALLED_AFTER. The job reruns from the start.
    """
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.TASKS_STALLED_AFTER)
    for job in stalled:
        await app.job_manager.retry_job(job)
        log.warning("task %s job=%s: its worker stopped; queued again", job.task_name, job.id)
    return len(stalled)
