"""Our own Prometheus metrics, the ones code increments as things happen (prometheus_client).

What the database already knows (accounts flagged, task backlog) is not counted here: those gauges
are read at scrape time by operations/collectors.py, so they are right whichever process or machine
changed the rows. Counters and histograms here live in each process; with PROMETHEUS_MULTIPROC_DIR
set (gunicorn, see gunicorn.conf.py) every worker writes them to files the scrape adds up, and
Prometheus adds up the machines (`sum by (...)`).

Names are listed in docs/operations.md with the alert rules that use them.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable

from prometheus_client import Counter, Histogram

WEBHOOK_DELIVERIES = Counter(
    "monolink_webhook_deliveries_total",
    "Mono webhook deliveries answered, by event name and outcome (the delivery row's status, or why it was refused).",
    ["event", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "monolink_webhook_processing_seconds",
    "Time to record and handle one webhook delivery (the pipeline, not the network).",
    ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MONO_CALLS = Counter(
    "monolink_mono_api_calls_total",
    "Calls to Mono's API (retries included in one call), by endpoint and outcome (ok or the error class).",
    ["endpoint", "outcome"],
)
MONO_SECONDS = Histogram(
    "monolink_mono_api_call_seconds",
    "Latency of a call to Mono's API, retries and backoff included.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)

# Event names come from the payload: anything but Mono's own (or a few known) becomes "other", so a
# sender cannot grow the label set without bound.
_EVENT_NAME = re.compile(r"^mono\.events\.[a-z_]{1,48}$")
# An account id in a path becomes "{id}": one series per endpoint, not one per account.
_ACCOUNT_SEGMENT = re.compile(r"(/accounts?/)(?!auth$|initiate$)[^/]+")


def _series(name: str | None) -> str:
    if not name:
        return "none"
    return name if _EVENT_NAME.match(name) else "other"


def observe_webhook(*, event: str | None, outcome: str, seconds: float | None = None) -> None:
    label = _series(event)
    WEBHOOK_DELIVERIES.labels(event=label, outcome=outcome or "none").inc()
    if seconds is not None:
        WEBHOOK_SECONDS.labels(event=label).observe(seconds)


def mono_endpoint(method: str, path: str) -> str:
    template = _ACCOUNT_SEGMENT.sub(r"\1{id}", path)
    return f"{method.upper()} {template}"


def timed_mono_call(request: Callable) -> Callable:
    """Decorate the Mono client's one transport method `_request(self, method, path, ...)`."""

    @functools.wraps(request)
    def wrapper(self, method: str, path: str, *args, **kwargs):
        endpoint = mono_endpoint(method, path)
        started = time.perf_counter()
        outcome = "ok"
        try:
            return request(self, method, path, *args, **kwargs)
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            MONO_CALLS.labels(endpoint=endpoint, outcome=outcome).inc()
            MONO_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)

    return wrapper
