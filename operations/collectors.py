"""Gauges read from the database at scrape time: the same on every machine, whoever changed the rows.

Each is a count over a partial or range index, so its cost follows the number of accounts in that
state (flagged, awaiting, reconnected lately), never the size of the table: bench/metrics_scrape.py
measures a scrape at 1,000,000 accounts. A failing query does not fail the scrape: the process
metrics still go out and `monolink_metrics_database_up` says 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.models import LinkedAccount
from monolink.taskqueue import engine_in_database
from notifications import schedule

from . import queues
from .db import set_statement_timeout

log = logging.getLogger(__name__)

RECENT_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}


class DatabaseCollector(Collector):
    def __init__(self, *, sent: Callable[[datetime], dict[str, int]] = schedule.sent_counts):
        self.sent = sent  # emails about broken links since a time, by kind (first_emails, reminders)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            families = list(self._accounts()) + list(self._queues())
        except DatabaseError as exc:
            log.warning("metrics: database gauges unavailable (%s)", type(exc).__name__)
            families, up = [], 0
        else:
            up = 1
        yield from families
        yield GaugeMetricFamily(
            "monolink_metrics_database_up", "1 when the scrape could read the database gauges.", value=up
        )

    def _accounts(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        with transaction.atomic():
            set_statement_timeout()
            accounts = LinkedAccount.objects
            flagged = accounts.flagged().count()
            awaiting = accounts.awaiting(now).count()
            reconnected, sent = {}, {}
            for window, length in RECENT_WINDOWS.items():
                reconnected[window] = accounts.filter(reauth_completed_at__gte=now - length).count()
                sent[window] = self.sent(now - length)
        state = GaugeMetricFamily(
            "monolink_accounts_reauth", "Linked accounts whose bank wants the user again, by state.", labels=["state"]
        )
        state.add_metric(["flagged"], flagged)
        state.add_metric(["awaiting_confirmation"], awaiting)  # the user finished the widget; Mono not yet
        state.add_metric(["needing_user"], flagged - awaiting)
        yield state
        recent = GaugeMetricFamily(
            "monolink_accounts_reconnected", "Accounts re-authorised within the window.", labels=["window"]
        )
        for window, count in reconnected.items():
            recent.add_metric([window], count)
        yield recent
        notified = GaugeMetricFamily(
            "monolink_notifications_sent", "Notifications sent within the window, by kind.", labels=["kind", "window"]
        )
        for window, by_kind in sent.items():
            for kind, count in by_kind.items():
                notified.add_metric([kind, window], count)
        yield notified

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        if not engine_in_database():
            return
        states = queues.queue_states()
        workers = queues.worker_state(settings.HEALTH_WORKER_HEARTBEAT_MAX)
        jobs = GaugeMetricFamily(
            "monolink_task_jobs", "Task jobs not finished, by queue and state.", labels=["queue", "state"]
        )
        age = GaugeMetricFamily(
            "monolink_task_oldest_ready_age_seconds", "Wait of the longest-waiting due job.", labels=["queue"]
        )
        for s in states:
            jobs.add_metric([s.queue, "ready"], s.ready)
            jobs.add_metric([s.queue, "scheduled"], s.scheduled)
            jobs.add_metric([s.queue, "running"], s.running)
            age.add_metric([s.queue], s.oldest_ready_age)
        yield jobs
        yield age
        yield GaugeMetricFamily(
            "monolink_task_workers_alive", "Task workers with a recent heartbeat.", value=workers.alive
        )
        if workers.last_heartbeat_age is not None:
            yield GaugeMetricFamily(
                "monolink_task_worker_heartbeat_age_seconds",
                "Seconds since the newest worker heartbeat.",
                value=workers.last_heartbeat_age,
            )
