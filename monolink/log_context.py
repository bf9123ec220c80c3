"""Ids that follow one request, delivery or task through every log line.

A contextvar holds the fields (request_id, delivery, mono_event_id, job, task); ContextFilter
copies them onto each record before it is formatted, so code logs as usual and every line of a
request carries its request id, every line of a webhook its delivery row and Mono's event id.
Contextvars rather than thread-locals: they also follow async views and sync_to_async threads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_fields: ContextVar[dict[str, object]] = ContextVar("monolink_log_context", default={})  # noqa: B039 (never mutated)

# Always present on a record (as "-" when unknown), so the plain-line format can name it.
ALWAYS = ("request_id",)


def current() -> dict[str, object]:
    return dict(_fields.get())


def bind(**fields: object) -> None:
    """Add fields for the rest of the current request or task (scope() resets them at its end)."""
    _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v not in (None, "")}})


@contextmanager
def scope(**fields: object) -> Iterator[None]:
    """Fields for the duration of a block: a request, a task run."""
    token = _fields.set({k: v for k, v in fields.items() if v not in (None, "")})
    try:
        yield
    finally:
        _fields.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            if not hasattr(record, key):  # an explicit extra= wins
                setattr(record, key, value)
        for key in ALWAYS:
            if not hasattr(record, key):
                setattr(record, key, "-")
        return True


# --- tasks ----------------------------------------------------------------------------------------


def task_middleware(call_next, context, worker):
    """Procrastinate sync task middleware: every line a job logs carries its job id and task name."""
    job = context.job
    with scope(job=job.id, task=job.task_name):
        return call_next()
