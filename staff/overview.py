"""The staff overview on the admin index: a few counts and three small charts.

Every figure costs the same at 1,000 or 1,000,000 accounts (bench/admin_lists.py measures it):
- flagged / awaiting: the partial indexes linkedaccount_flagged_idx and linkedaccount_awaiting_idx;
- failed deliveries: webhookevent_status_idx (status, received_at), invalid counted with failed;
- flags and reconnections per day: Mono's reauthorisation_required / account_reauthorized deliveries
  (a delivery log row each, duplicates already dropped; the account row keeps only the latest flag)
  counted once into DailyEventCount (webhookevent_event_idx, index-only), only the last minutes live;
- time from flag to reconnect: the latest reconnections, read from linkedaccount_reconnected_idx;
- flagged accounts by bank: linkedaccount_flagged_bank_idx (index-only);
- users email can't reach: user_email_undeliverable_idx (partial: only the marked few).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, PositiveIntegerField, Q, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import LinkedAccount
from monolink import charts
from monolink.mono.events import REAUTHORISATION_REQUIRED, REAUTHORIZED
from monolink.taskqueue import engine_in_database
from notifications.schedule import sent_counts
from webhooks.models import DailyEventCount, WebhookEvent

DAYS = 30
CHARTED_EVENTS = (REAUTHORISATION_REQUIRED, REAUTHORIZED)
BANKS_SHOWN = 8
MEDIAN_SAMPLE = 2_000
# A delivery's received_at is set just before its INSERT commits: count the last minutes live.
SETTLE = timedelta(minutes=5)


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
    reminders_sent: int
    unreachable_by_email: int
    tasks_failed: int | None  # None: no task engine tables in this database
    tasks_waiting: int | None
    days: list[Day]
    median_reconnect: timedelta | None
    reconnections_measured: int
    banks: list[tuple[str, int]] = field(default_factory=list)


def notifications_sent(since: datetime) -> tuple[int, int]:
    """(first emails, reminders) sent to users since `since`, from the notification log."""
    counts = sent_counts(since)
    return counts["first_emails"], counts["reminders"]


def task_counts() -> tuple[int | None, int | None]:
    """(failed, waiting) background jobs, from the task engine's own table; (None, None) without one."""
    if not engine_in_database():
        return None, None
    from procrastinate.contrib.django.models import ProcrastinateJob

    counts = ProcrastinateJob.objects.aggregate(
        failed=Count("id", filter=Q(status="failed")), waiting=Count("id", filter=Q(status="todo"))
    )
    return counts["failed"], counts["waiting"]


def _count_by_day(start: datetime, end: datetime | None) -> dict[tuple[str, date], int]:
    rows = WebhookEvent.objects.filter(event__in=CHARTED_EVENTS, received_at__gte=start)
    if end is not None:
        rows = rows.filter(received_at__lt=end)
    rows = (
        rows.annotate(day=TruncDate("received_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("event", "day")
        .annotate(n=Count("*"))  # COUNT(*): the index alone answers it
    )
    return {(row["event"], row["day"]): row["n"] for row in rows}


def _per_day(first_day: date, today: date, now: datetime) -> dict[tuple[str, date], int]:
    """Counts per (event, day) over the window, each delivery counted once in the page's lifetime.

    DailyEventCount keeps, per day and event, the count of deliveries received before its
    `counted_until`: the day's end for a finished day, a few minutes ago for today. A view counts only
    what came after (the first view of a day counts that day once); deliveries of the last
    SETTLE minutes are always counted live, as one may still be committing with an older received_at.
    """
    settled = now - SETTLE
    stored: dict[date, list[DailyEventCount]] = {}
    for row in DailyEventCount.objects.filter(day__gte=first_day, day__lte=today, event__in=CHARTED_EVENTS):
        stored.setdefault(row.day, []).append(row)
    counts: dict[tuple[str, date], int] = {}
    days = [first_day + timedelta(days=i) for i in range((today - first_day).days + 1)]

    # Days never counted: one query over their span, one row per (day, event).
    missing = [
        day for day in days if day not in stored and min(_start_of(day + timedelta(days=1)), settled) > _start_of(day)
    ]
    if missing:
        end = min(_start_of(missing[-1] + timedelta(days=1)), settled)
        counted = _count_by_day(_start_of(missing[0]), end)
        new = [
            DailyEventCount(
                day=day,
                event=event,
                count=counted.get((event, day), 0),
                counted_until=min(_start_of(day + timedelta(days=1)), settled),
            )
            for day in missing
            for event in CHARTED_EVENTS
        ]
        # Two staff opening the page at once may both count: the unique (day, event) keeps one row.
        DailyEventCount.objects.bulk_create(new, ignore_conflicts=True)
        for row in new:
            stored.setdefault(row.day, []).append(row)

    # Days counted only partly (today, or yesterday counted while it was today): count the rest. A
    # day's rows share counted_until and move together in one UPDATE, which matches nothing if a
    # concurrent view moved them first (it then added the same deliveries).
    for day, rows in stored.items():
        until = min(row.counted_until for row in rows)
        end = min(_start_of(day + timedelta(days=1)), settled)
        delta = _count_by_day(until, end) if until < end else {}
        if any(delta.get((row.event, day)) for row in rows):  # nothing new: no write, the next view looks again
            totals = {row.event: row.count + delta.get((row.event, day), 0) for row in rows}
            DailyEventCount.objects.filter(day=day, counted_until=until).update(
                count=Case(
                    *(When(event=event, then=Value(n)) for event, n in totals.items()),
                    default=F("count"),
                    output_field=PositiveIntegerField(),
                ),
                counted_until=end,
            )
            for row in rows:
                row.count, row.counted_until = totals[row.event], end
        counts.update({(row.event, day): row.count for row in rows})

    # The rest, live: from where the stored counts end (`settled`, or later if a view with a later
    # clock moved them on). Right after midnight that is partly yesterday, counted on yesterday.
    live_from = max([settled, *(row.counted_until for rows in stored.values() for row in rows)])
    for key, n in _count_by_day(live_from, None).items():
        counts[key] = counts.get(key, 0) + n
    return counts


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _median_reconnect(since: datetime) -> tuple[timedelta | None, int]:
    """Median time from flag to reconnect over the latest MEDIAN_SAMPLE reconnections of the period:
    read newest first from linkedaccount_reconnected_idx (an index-only scan), so its cost stays flat
    however many accounts reconnected; a few thousand give the median to within minutes."""
    latest = (
        LinkedAccount.objects.filter(
            reauth_completed_at__gte=since,
            reauth_requested_at__isnull=False,
            reauth_requested_at__lte=F("reauth_completed_at"),
        )
        .order_by("-reauth_completed_at")
        .values_list("reauth_completed_at", "reauth_requested_at")[:MEDIAN_SAMPLE]
    )
    durations = [completed - requested for completed, requested in latest]
    return (statistics.median(durations) if durations else None), len(durations)


def build(now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    flagged = LinkedAccount.objects.flagged()
    last_day = now - timedelta(hours=24)
    today = timezone.localdate(now)
    first_day = today - timedelta(days=DAYS - 1)
    per_day = _per_day(first_day, today, now)
    emails, reminders = notifications_sent(last_day)
    tasks_failed, tasks_waiting = task_counts()
    median, measured = _median_reconnect(now - timedelta(days=DAYS))
    banks = list(
        flagged.order_by()
        .values_list("institution_name")
        .annotate(n=Count("*"))  # COUNT(*): the index alone answers it
        .order_by("-n", "institution_name")[:BANKS_SHOWN]
    )
    return Overview(
        flagged=flagged.count(),
        awaiting=LinkedAccount.objects.awaiting(now).count(),
        failed_deliveries=WebhookEvent.objects.problems_since(last_day).count(),
        emails_sent=emails,
        reminders_sent=reminders,
        unreachable_by_email=get_user_model().objects.filter(email_undeliverable_at__isnull=False).count(),
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
        # The chart's figures as a table beside it, newest first, days with something to count.
        "active_days": [day for day in reversed(figures.days) if day.flags or day.reconnections],
    }
