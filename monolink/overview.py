"""The staff overview on the admin index: a few counts and three small charts.

Every figure is one aggregate query answered from an index (bench/admin_lists.py measures the page
at 1,000,000 accounts), never a scan of a big table:
- flagged / awaiting: the partial indexes linkedaccount_flagged_idx and linkedaccount_awaiting_idx;
- failed deliveries: webhookevent_status_idx (status, received_at), invalid counted with failed;
- flags and reconnections per day: Mono's reauthorisation_required / account_reauthorized deliveries
  (a delivery log row each, duplicates already dropped) grouped by day on webhookevent_event_idx;
  the account row keeps only the latest flag, the delivery log keeps them all;
- time from flag to reconnect: linkedaccount_reconnected_idx (completed, requested) over 30 days;
- flagged accounts by bank: the flagged partial index, which includes the bank's name.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import LinkedAccount
from monolink import charts
from webhooks.events import REAUTHORISATION_REQUIRED, REAUTHORIZED
from webhooks.models import WebhookEvent

DAYS = 30
BANKS_SHOWN = 8


class Median(Aggregate):
    """PostgreSQL's percentile_cont(0.5): the median computed by the database, one row back."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


@dataclass(frozen=True)
class Day:
    day: date
    flags: int
    reconnections: int


@dataclass
class Overview:
    flagged: int
    awaiting: int
    failed_deliveries: int
    emails_sent: int
    reminders_sent: int | None  # None: not recorded yet (see notifications_sent)
    tasks_failed: int | None  # None: no task engine tables in this database
    tasks_waiting: int | None
    days: list[Day]
    median_reconnect: timedelta | None
    reconnections_measured: int
    banks: list[tuple[str, int]] = field(default_factory=list)


def notifications_sent(since: datetime) -> tuple[int, int | None]:
    """(emails, reminders) sent to users since `since`.

    Reads what exists today: the email timestamp on each flagged account (one per flag). Reminders
    are not recorded yet, so None; a Notification model will answer both here later.
    """
    emails = LinkedAccount.objects.flagged().filter(reauth_notified_at__gte=since).count()
    return emails, None


def task_counts() -> tuple[int | None, int | None]:
    """(failed, waiting) background jobs, from the task engine's own table; (None, None) without one."""
    if not apps.is_installed("procrastinate.contrib.django") or connection.vendor != "postgresql":
        return None, None
    from procrastinate.contrib.django.models import ProcrastinateJob

    counts = ProcrastinateJob.objects.aggregate(
        failed=Count("id", filter=Q(status="failed")), waiting=Count("id", filter=Q(status="todo"))
    )
    return counts["failed"], counts["waiting"]


def _per_day(since: datetime) -> dict[tuple[str, date], int]:
    rows = (
        WebhookEvent.objects.filter(event__in=[REAUTHORISATION_REQUIRED, REAUTHORIZED], received_at__gte=since)
        .annotate(day=TruncDate("received_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("event", "day")
        .annotate(n=Count("id"))
    )
    return {(row["event"], row["day"]): row["n"] for row in rows}


def _median_reconnect(since: datetime) -> tuple[timedelta | None, int]:
    reconnected = LinkedAccount.objects.filter(
        reauth_completed_at__gte=since,
        reauth_requested_at__isnull=False,
        reauth_requested_at__lte=F("reauth_completed_at"),
    )
    took = ExpressionWrapper(F("reauth_completed_at") - F("reauth_requested_at"), output_field=DurationField())
    if connection.vendor == "postgresql":
        # percentile_cont over an interval answers an interval: a timedelta, computed in the database.
        row = reconnected.aggregate(n=Count("id"), median=Median(took, output_field=DurationField()))
        return row["median"], row["n"]
    # SQLite (the embedded default, small by nature) has no percentile: the median in Python.
    durations = [d for d in reconnected.annotate(took=took).values_list("took", flat=True) if d is not None]
    return (statistics.median(durations) if durations else None), len(durations)


def build(now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    flagged = LinkedAccount.objects.flagged()
    grace_start = now - settings.REAUTH_GRACE_PERIOD
    last_day = now - timedelta(hours=24)
    today = timezone.localdate(now)
    first_day = today - timedelta(days=DAYS - 1)
    since = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    per_day = _per_day(since)
    emails, reminders = notifications_sent(last_day)
    tasks_failed, tasks_waiting = task_counts()
    median, measured = _median_reconnect(now - timedelta(days=DAYS))
    banks = list(
        flagged.order_by()
        .values_list("institution_name")
        .annotate(n=Count("id"))
        .order_by("-n", "institution_name")[:BANKS_SHOWN]
    )
    return Overview(
        flagged=flagged.count(),
        awaiting=flagged.filter(reauth_submitted_at__gte=grace_start).count(),
        failed_deliveries=WebhookEvent.objects.filter(
            status__in=[WebhookEvent.Status.FAILED, WebhookEvent.Status.INVALID], received_at__gte=last_day
        ).count(),
        emails_sent=emails,
        reminders_sent=reminders,
        tasks_failed=tasks_failed,
        tasks_waiting=tasks_waiting,
        days=[
            Day(
                day=day,
                flags=per_day.get((REAUTHORISATION_REQUIRED, day), 0),
                reconnections=per_day.get((REAUTHORIZED, day), 0),
            )
            for day in (first_day + timedelta(days=i) for i in range(DAYS))
        ],
        median_reconnect=median,
        reconnections_measured=measured,
        banks=[(name or "Unknown bank", n) for name, n in banks],
    )


def page_context(now: datetime | None = None) -> dict:
    """What the admin index's overview template draws: the figures and the charts' geometry."""
    figures = build(now)
    return {
        "overview": figures,
        "daily_chart": charts.grouped_columns(
            [date_format(day.day, "j M") for day in figures.days],
            {
                "flags": [day.flags for day in figures.days],
                "reconnections": [day.reconnections for day in figures.days],
            },
        ),
        "banks_chart": charts.horizontal_bars(figures.banks),
    }
