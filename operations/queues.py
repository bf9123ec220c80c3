"""The task engine's state, read from Procrastinate's own tables (jobs live in our PostgreSQL).

Plain SQL rather than the engine's Django models: three aggregate queries, each bounded by a
statement timeout and served by the engine's partial index on waiting/running jobs
(`procrastinate_jobs_id_lock_idx_v1`), so the cost follows the backlog, never the job history.
With the in-process backend (SQLite, ./dev run) there is no queue and nothing to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction

from monolink import taskqueue

from .db import set_statement_timeout


@dataclass(frozen=True)
class QueueState:
    queue: str
    ready: int  # waiting and due
    scheduled: int  # waiting for a later time (retries with backoff)
    running: int
    oldest_ready_age: float  # seconds the longest-waiting due job has waited; 0 when none


@dataclass(frozen=True)
class WorkerState:
    alive: int  # heartbeat within HEALTH_WORKER_HEARTBEAT_MAX
    last_heartbeat_age: float | None  # seconds since the newest heartbeat; None: no worker ever


_QUEUES_SQL = """
WITH open_jobs AS (
    SELECT queue_name, id, status, scheduled_at,
           status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()) AS due
    FROM procrastinate_jobs
    WHERE status IN ('todo', 'doing')
), per_queue AS (
    SELECT queue_name,
           count(*) FILTER (WHERE due) AS ready,
           count(*) FILTER (WHERE status = 'todo' AND NOT due) AS scheduled,
           count(*) FILTER (WHERE status = 'doing') AS running,
           min(id) FILTER (WHERE due AND scheduled_at IS NULL) AS oldest_unscheduled_id,
           min(scheduled_at) FILTER (WHERE due) AS oldest_scheduled_at
    FROM open_jobs GROUP BY queue_name
)
SELECT q.queue_name, q.ready, q.scheduled, q.running,
       greatest(
           extract(epoch FROM now() - q.oldest_scheduled_at),
           extract(epoch FROM now() - (SELECT min(e.at) FROM procrastinate_events e
                                        WHERE e.job_id = q.oldest_unscheduled_id AND e.type = 'deferred')),
           0
       )
FROM per_queue q ORDER BY q.queue_name
"""
_WORKERS_SQL = """
SELECT count(*) FILTER (WHERE last_heartbeat >= now() - %s), extract(epoch FROM now() - max(last_heartbeat))
FROM procrastinate_workers
"""


def queue_states() -> list[QueueState]:
    with transaction.atomic(), connection.cursor() as cursor:
        set_statement_timeout()
        cursor.execute(_QUEUES_SQL)
        rows = cursor.fetchall()
    states = {row[0]: QueueState(row[0], row[1], row[2], row[3], float(row[4] or 0)) for row in rows}
    for name in taskqueue.QUEUES:  # an empty queue is a 0, not a missing series
        states.setdefault(name, QueueState(name, 0, 0, 0, 0.0))
    return sorted(states.values(), key=lambda s: s.queue)


def worker_state(heartbeat_max: timedelta) -> WorkerState:
    with transaction.atomic(), connection.cursor() as cursor:
        set_statement_timeout()
        cursor.execute(_WORKERS_SQL, [heartbeat_max])
        alive, age = cursor.fetchone()
    return WorkerState(alive=alive, last_heartbeat_age=None if age is None else float(age))


def readiness_problem(*, heartbeat_max: timedelta, age_max: timedelta) -> str:
    """Why the task side is not ready, or "" when it is."""
    workers = worker_state(heartbeat_max)
    if not workers.alive:
        return f"No task worker has sent a heartbeat in the last {int(heartbeat_max.total_seconds())} s."
    late = [s for s in queue_states() if s.oldest_ready_age > age_max.total_seconds()]
    if late:
        return "; ".join(f"queue {s.queue}: a job has waited {int(s.oldest_ready_age)} s" for s in late)
    return ""
