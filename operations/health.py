"""Readiness checks (django-health-check): the database, our migrations, the task engine.

Each runs in its own thread under the library's wall-clock limit (HEALTH_CHECK_TIMEOUT); our
queries also carry a PostgreSQL statement timeout, so a check stuck behind a lock does not keep a
connection busy after the answer has gone. Messages name what is wrong, never a host, a user or a password.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import ServiceUnavailable

from monolink.taskqueue import engine_in_database

from . import queues
from .db import set_statement_timeout


def _timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.HEALTH_CHECK_TIMEOUT)


@dataclasses.dataclass
class DatabaseReachable(Database):
    """The library's SELECT 1, with our time limit."""

    @property
    def timeout(self) -> datetime.timedelta:
        return _timeout()


# Once every migration is applied in this process's database it stays so (a rollback is a deploy).
_migrations_applied = False


@dataclasses.dataclass
class MigrationsApplied(HealthCheck):
    """Every migration this code knows is applied: a web server of a new release is not ready until
    `migrate` ran (the release step), or it would serve columns that do not exist yet."""

    @property
    def timeout(self) -> datetime.timedelta:
        return _timeout()

    def run(self) -> None:
        global _migrations_applied
        if _migrations_applied:
            return
        try:
            with transaction.atomic():
                set_statement_timeout()
                executor = MigrationExecutor(connection)
                plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as exc:
            raise ServiceUnavailable(f"Cannot read the migration table ({type(exc).__name__}).") from exc
        finally:
            connection.close()  # this thread's connection; the thread ends with the request
        if plan:
            names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:3])
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied: {names}{'…' if len(plan) > 3 else ''}")
        _migrations_applied = True


@dataclasses.dataclass
class TaskQueue(HealthCheck):
    """A worker sent a heartbeat lately and no ready job has waited too long (PostgreSQL engine only)."""

    @property
    def timeout(self) -> datetime.timedelta:
        return _timeout()

    def run(self) -> None:
        try:
            problem = queues.readiness_problem(
                heartbeat_max=settings.HEALTH_WORKER_HEARTBEAT_MAX, age_max=settings.HEALTH_QUEUE_MAX_AGE
            )
        except DatabaseError as exc:
            raise ServiceUnavailable(f"Cannot read the task queue ({type(exc).__name__}).") from exc
        finally:
            connection.close()
        if problem:
            raise ServiceUnavailable(problem)


def readiness_checks() -> list[type[HealthCheck]]:
    checks: list[type[HealthCheck]] = [DatabaseReachable, MigrationsApplied]
    if settings.HEALTH_CHECK_TASK_QUEUE and engine_in_database():
        checks.append(TaskQueue)
    return checks
