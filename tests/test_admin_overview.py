"""The staff overview on the admin index: its numbers, and that the page shows them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from monolink import charts
from monolink.mono.events import REAUTHORISATION_REQUIRED, REAUTHORIZED
from staff import overview
from webhooks.models import DailyEventCount, WebhookEvent

INDEX_URL = reverse("admin:index")


def delivery(event, received_at, status=WebhookEvent.Status.PROCESSED):
    n = WebhookEvent.objects.count() + 1
    row = WebhookEvent.objects.create(event=event, dedupe_key=f"k{n}", body="{}", status=status)
    WebhookEvent.objects.filter(pk=row.pk).update(received_at=received_at)  # auto_now_add ignores a given value
    return row


@pytest.fixture
def busy_day(make_account):
    return busy_picture(make_account, timezone.now())


def busy_picture(make_account, now):
    """A fixed picture: 3 flagged (1 awaiting), 1 unlinked flag, 2 reconnected; in the last 24 hours one first
    email and one reminder (the others are older)."""
    make_account(institution_name="GTBank", reauth_required=True, reauth_requested_at=now - timedelta(hours=2))
    emailed = make_account(
        institution_name="GTBank",
        reauth_required=True,
        reauth_requested_at=now - timedelta(hours=3),
        reauth_submitted_at=now - timedelta(minutes=1),
        reauth_notified_at=now - timedelta(hours=1),
    )
    old_flag = make_account(
        institution_name="Access Bank", reauth_required=True, reauth_requested_at=now - timedelta(days=3)
    )
    for account, step, sent_at in [
        (emailed, 0, now - timedelta(hours=1)),
        (old_flag, 0, now - timedelta(days=3)),  # older than 24 h
        (old_flag, 1, now - timedelta(days=2)),
        (old_flag, 2, now - timedelta(hours=2)),
    ]:
        Notification.objects.create(account=account, flagged_at=account.reauth_requested_at, step=step, sent_at=sent_at)
    make_account(institution_name="Kuda", reauth_required=True, unlinked_at=now)  # unlinked: never counted
    make_account(reauth_requested_at=now - timedelta(hours=5), reauth_completed_at=now - timedelta(hours=4))
    make_account(reauth_requested_at=now - timedelta(days=2), reauth_completed_at=now - timedelta(days=1, hours=21))
    # Deliveries: failed and invalid today count, the failed one from two days ago does not.
    delivery("mono.events.account_updated", now - timedelta(hours=1), WebhookEvent.Status.FAILED)
    delivery("", now - timedelta(hours=2), WebhookEvent.Status.INVALID)
    delivery("mono.events.account_updated", now - timedelta(days=2), WebhookEvent.Status.FAILED)
    delivery(REAUTHORISATION_REQUIRED, now - timedelta(minutes=5))
    delivery(REAUTHORISATION_REQUIRED, now - timedelta(minutes=6))
    delivery(REAUTHORISATION_REQUIRED, now - timedelta(days=3))
    delivery(REAUTHORIZED, now - timedelta(minutes=7))
    delivery(REAUTHORISATION_REQUIRED, now - timedelta(days=40))  # outside the 30 days
    return now


def test_overview_counts_flagged_awaiting_failed_with_invalid_emails_and_reminders(busy_day):
    figures = overview.build(busy_day)

    assert (figures.flagged, figures.awaiting) == (3, 1)
    assert figures.failed_deliveries == 2  # invalid counted with failed; the one two days ago is not
    assert (figures.emails_sent, figures.reminders_sent) == (1, 1)  # the last 24 hours only


def test_overview_groups_flags_and_reconnections_by_local_day_over_30_days(busy_day):
    figures = overview.build(busy_day)

    assert len(figures.days) == 30
    assert figures.days[-1].day == timezone.localdate(busy_day)
    today = figures.days[-1]
    # Five minutes ago may be yesterday in Lagos just after midnight; count over the last two days.
    recent = figures.days[-2:]
    assert sum(d.flags for d in recent) >= 2 and sum(d.reconnections for d in recent) == 1
    assert today.flags + figures.days[-2].flags + sum(d.flags for d in figures.days[:-2]) == 3
    assert sum(d.reconnections for d in figures.days) == 1


def test_each_delivery_is_counted_once_and_only_the_last_minutes_live(busy_day):
    overview.build(busy_day)
    assert DailyEventCount.objects.filter(day__lt=timezone.localdate(busy_day)).count() == 2 * 29
    # Stored counts are not counted again: a delivery inserted into a past day now stays unseen
    # (cannot happen: received_at is the arrival time; it proves the count is not redone).
    delivery(REAUTHORISATION_REQUIRED, busy_day - timedelta(days=1))
    delivery(REAUTHORISATION_REQUIRED, busy_day - timedelta(minutes=1))  # within the live minutes

    assert sum(d.flags for d in overview.build(busy_day).days) == 4  # 3 before + the live one
    # Ten minutes later the live one has settled into today's stored count, still counted once.
    later = overview.build(busy_day + timedelta(minutes=10))
    assert sum(d.flags for d in later.days) == 4
    today = DailyEventCount.objects.filter(day=timezone.localdate(busy_day + timedelta(minutes=10)))
    if today.exists():  # not at 00:05 local, when today has no settled minutes yet
        assert {row.counted_until for row in today} == {busy_day + timedelta(minutes=5)}


def test_just_after_local_midnight_the_last_minutes_of_yesterday_still_count(make_account):
    """Two flags and a reconnection 5-7 minutes before a view at 00:02 local: yesterday's last minutes,
    not yet settled into yesterday's stored count, are counted live, on yesterday."""
    midnight = timezone.make_aware(timezone.datetime.combine(timezone.localdate(), timezone.datetime.min.time()))
    now = busy_picture(make_account, midnight + timedelta(minutes=2))

    figures = overview.build(now)

    assert figures.days[-1].day == timezone.localdate(now)
    assert (figures.days[-2].flags, figures.days[-2].reconnections) == (2, 1)
    assert sum(d.flags for d in figures.days) == 3
    # Ten minutes later they have settled into yesterday's stored count: still counted once.
    assert [d.flags for d in overview.build(now + timedelta(minutes=10)).days] == [d.flags for d in figures.days]


def test_overview_median_time_from_flag_to_reconnect(busy_day):
    figures = overview.build(busy_day)

    # 1 h and 3 h: the median of two is their mean.
    assert figures.reconnections_measured == 2
    assert figures.median_reconnect == timedelta(hours=2)


def test_overview_ranks_flagged_accounts_by_bank(busy_day):
    assert overview.build(busy_day).banks == [("GTBank", 2), ("Access Bank", 1)]


def test_overview_of_an_empty_site_is_zeros_and_no_median(db):
    figures = overview.build()

    assert (figures.flagged, figures.awaiting, figures.failed_deliveries, figures.emails_sent) == (0, 0, 0, 0)
    assert figures.median_reconnect is None and figures.banks == []
    assert all(d.flags == 0 and d.reconnections == 0 for d in figures.days)


def test_admin_index_shows_the_overview_with_counts_and_svg_charts(admin_client, busy_day):
    response = admin_client.get(INDEX_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-count="flagged">3<' in html and 'data-count="failed">2<' in html
    assert 'data-count="median">2 h<' in html
    assert html.count('class="bar bar-bank"') == 2
    assert "<script" not in html.split('id="staff-overview"')[1].split("</svg>")[-1]  # no script in the overview
    assert 'style="' not in html.split('id="staff-overview"')[1]  # the CSP allows no inline style


def test_overview_is_for_staff_only(client, user):
    client.force_login(user)
    assert client.get(INDEX_URL).status_code == 302


@pytest.mark.parametrize(
    ("largest", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (180, 200), (201, 500), (9_001, 10_000)]
)
def test_chart_axis_top_is_a_round_number_at_least_the_largest_value(largest, top):
    assert charts._nice_top(largest) == top


def test_columns_scale_to_the_axis_and_zero_draws_no_height():
    chart = charts.grouped_columns(["a", "b"], {"flags": [0, 4], "reconnections": [2, 5]}, width=100, height=50)

    heights = {(bar.label, bar.series): bar.height for bar in chart.bars}
    assert chart.top == 5
    assert heights == {("a", "flags"): 0, ("a", "reconnections"): 20, ("b", "flags"): 40, ("b", "reconnections"): 50}
    assert all(bar.y + bar.height == 50 for bar in chart.bars)  # every column stands on the axis


@pytest.mark.parametrize(("values", "lines"), [([0], [0, 1]), ([4], [0, 5]), ([9], [0, 5, 10]), ([150], [0, 100, 200])])
def test_the_y_axis_starts_at_0_with_whole_gridlines_up_to_the_top(values, lines):
    chart = charts.grouped_columns(["a"], {"flags": values}, width=100, height=50)
    assert [value for _y, value in chart.gridlines] == lines
    assert chart.gridlines[0] == (50, 0) and chart.gridlines[-1] == (0, chart.top)  # 0 on the axis, top at the top


def test_each_day_label_sits_at_the_centre_of_its_own_columns():
    chart = charts.grouped_columns(list("abcdefgh"), {"flags": [1] * 8, "reconnections": [2] * 8}, width=80)
    for x, label in chart.ticks:
        own = [bar for bar in chart.bars if bar.label == label]
        left, right = own[0].x, own[-1].x + own[-1].width
        assert abs(x - (left + right) / 2) < 0.01


def test_overview_shows_the_days_as_a_table_and_explains_the_median(admin_client, busy_day):
    html = admin_client.get(INDEX_URL).content.decode()
    table = html.split('data-testid="daily-table"')[1].split("</table>")[0]
    assert '<th scope="col">Flagged by Mono</th>' in table and table.count("<tr>") >= 2
    words = html.split('data-testid="median-words">')[1].split("</p>")[0]
    assert "half of the last 2 reconnections" in words and "took less than 2 h" in words


@pytest.mark.postgres
def test_overview_counts_failed_and_waiting_jobs_from_the_task_engine(db, procrastinate_backend):
    from django.db import connection

    with connection.cursor() as cursor:
        for status in ("failed", "failed", "todo", "doing"):
            cursor.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, status, args) VALUES ('mono', 'x', %s, '{}')",
                [status],
            )
    figures = overview.build()
    assert (figures.tasks_failed, figures.tasks_waiting) == (2, 1)


def test_task_counts_exist_only_where_the_engine_runs_the_jobs(db, settings):
    from django.db import connection

    settings.TASKS_BACKEND = "in_process"  # ./dev run on SQLite: no job table to count
    assert overview.task_counts() == (None, None)
    if connection.vendor == "postgresql":
        settings.TASKS_BACKEND = "procrastinate"
        assert overview.task_counts() == (0, 0)
