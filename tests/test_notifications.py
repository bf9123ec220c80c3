"""Emails about broken links: the first one, reminders on a schedule, the reconciler behind them.

In-process (tasks run right after commit, the test settings), on SQLite and PostgreSQL. Time moves
by moving the flag back in the database, as a day passing would. tests/test_reconcile_worker.py
runs the same rules with real Procrastinate workers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount, Notification
from notifications import email, schedule
from notifications import tasks as notification_tasks
from reauth import state

from .test_settings_and_models import _check

DAY = timedelta(days=1)


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Run what a block queues once it commits (in-process backend), like a worker would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def reconcile(run_tasks):
    def run(**kwargs) -> notification_tasks.Reconciled:
        with run_tasks():
            return notification_tasks.reconcile(**kwargs)

    return run


def flag(account: LinkedAccount, run_tasks) -> None:
    """Flag as the webhook handler does: the rule, then the first email queued with it."""
    with run_tasks():
        state.flag_for_reauth(mono_account_id=account.mono_account_id)
        notification_tasks.queue_reauth_email(mono_account_id=account.mono_account_id)


def age_flag(account: LinkedAccount, by: timedelta) -> None:
    """As if the flag (and the emails recorded for it) happened `by` earlier."""
    account.refresh_from_db()
    old = account.reauth_requested_at
    LinkedAccount.objects.filter(pk=account.pk).update(reauth_requested_at=old - by)
    Notification.objects.filter(account=account, flagged_at=old).update(flagged_at=old - by)


def steps_sent(account: LinkedAccount) -> list[int]:
    return sorted(Notification.objects.filter(account=account).values_list("step", flat=True))


# --- the schedule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "step"),
    [
        (timedelta(0), 0),
        (DAY - timedelta(seconds=1), 0),
        (DAY, 1),
        (3 * DAY - timedelta(minutes=1), 1),
        (3 * DAY, 2),
        (7 * DAY, 3),
        (40 * DAY, 3),  # no fourth reminder: the schedule has three
    ],
)
def test_due_step_follows_the_default_1_3_7_day_schedule(age, step):
    flagged_at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    assert schedule.due_step(flagged_at, flagged_at + age) == step


@pytest.mark.parametrize(
    ("days", "error"),
    [
        ("1,x", "REAUTH_REMINDER_DAYS must be numbers of days"),
        ("3,1", "REAUTH_REMINDER_DAYS must be positive and increasing"),
        ("0,2", "REAUTH_REMINDER_DAYS must be positive and increasing"),
        ("", None),  # no reminders
    ],
)
def test_a_bad_reminder_schedule_stops_the_app_with_a_clear_error(days, error):
    result = _check({"DEBUG": "true", "REAUTH_REMINDER_DAYS": days})

    assert (result.returncode == 0) == (error is None), result.stderr
    assert error is None or error in result.stderr


def test_no_reminders_when_the_schedule_is_empty(settings):
    settings.REAUTH_REMINDER_DAYS = []
    flagged_at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    assert schedule.due_step(flagged_at, flagged_at + 30 * DAY) == 0


# --- reminders --------------------------------------------------------------------------------------


def test_each_reminder_is_sent_once_on_its_day(account, run_tasks, reconcile):
    flag(account, run_tasks)
    assert reconcile().reminders == []  # nothing due on day 0: the first email went with the flag

    age_flag(account, DAY)
    assert reconcile().reminders == [account.mono_account_id]
    assert reconcile().reminders == []  # sent and recorded: not again

    age_flag(account, 2 * DAY)  # day 3
    reconcile()
    age_flag(account, 4 * DAY)  # day 7
    reconcile()
    age_flag(account, 30 * DAY)
    reconcile()

    assert steps_sent(account) == [0, 1, 2, 3]
    assert [m.subject for m in mail.outbox] == ["Reconnect your GTBank account"] + [
        "Reminder: reconnect your GTBank account"
    ] * 3
    assert "remind you up to 3 more times" in mail.outbox[0].body
    assert "This is the last reminder" in mail.outbox[-1].body


def test_a_reminder_says_since_when_the_link_is_broken_and_links_to_our_reconnect_page(account, run_tasks, reconcile):
    flag(account, run_tasks)
    # Between one and three days ago, in the site's time zone (Africa/Lagos in the test settings).
    broken_since = timezone.localtime(timezone.now() - 2 * DAY).replace(hour=8, minute=30)
    LinkedAccount.objects.filter(pk=account.pk).update(reauth_requested_at=broken_since)
    Notification.objects.update(flagged_at=broken_since)

    reconcile()

    reminder = mail.outbox[-1]
    assert reminder.subject == "Reminder: reconnect your GTBank account"
    assert f"broken since {broken_since:%-d %B %Y}, 08:30 {broken_since:%Z}" in reminder.body
    assert "http://127.0.0.1:8000" + reverse("web:reauth") in reminder.body
    assert reverse("web:reauth") == "/reconnect/"
    assert "mono" not in reminder.body.lower().replace("monolink", "")
    assert reminder.extra_headers["Message-ID"].startswith(f"<reauth-{account.pk}-")
    assert reminder.extra_headers["Message-ID"] != mail.outbox[0].extra_headers["Message-ID"]


def test_a_user_emailed_late_gets_only_the_latest_due_step_not_a_burst(account, reconcile):
    state.flag_for_reauth(mono_account_id=account.mono_account_id)  # its first-email job was lost
    age_flag(account, 4 * DAY)

    done = reconcile()

    assert done.reminders == [account.mono_account_id]
    assert steps_sent(account) == [2]
    assert len(mail.outbox) == 1
    assert reconcile().reminders == []


@pytest.mark.parametrize(
    "fix",
    [
        lambda account: state.mark_reauthorised(mono_account_id=account.mono_account_id),
        lambda account: state.mark_unlinked(mono_account_id=account.mono_account_id),
    ],
    ids=["reconnected", "unlinked"],
)
def test_reminders_stop_once_the_account_is_reconnected_or_unlinked(account, run_tasks, reconcile, fix):
    flag(account, run_tasks)
    age_flag(account, DAY)
    fix(account)

    assert reconcile().reminders == []
    # A reminder job queued before the fix, running after it:
    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id, step=1) == "not_flagged"
    age_flag(account, 10 * DAY)
    assert reconcile().reminders == []
    assert steps_sent(account) == [0]
    assert len(mail.outbox) == 1


def test_a_new_flag_after_reconnecting_starts_its_own_schedule(account, run_tasks, reconcile):
    flag(account, run_tasks)
    age_flag(account, 3 * DAY)
    reconcile()
    state.mark_reauthorised(mono_account_id=account.mono_account_id)

    flag(account, run_tasks)

    account.refresh_from_db()
    assert account.notifications.filter(flagged_at=account.reauth_requested_at).get().step == 0
    assert steps_sent(account) == [0, 0, 2]
    assert account.reauth_notified_at == account.notifications.get(flagged_at=account.reauth_requested_at).sent_at


def test_a_job_for_a_step_that_is_not_due_or_already_passed_sends_nothing(account, run_tasks):
    flag(account, run_tasks)

    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id, step=1) == "not_due"
    age_flag(account, 3 * DAY)
    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id, step=1) == "superseded"
    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id, step=2) == "sent"
    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id, step=2) == "already_sent"
    assert steps_sent(account) == [0, 2]


def test_a_step_is_recorded_once_even_when_two_sends_finish(account, run_tasks):
    flag(account, run_tasks)
    account.refresh_from_db()
    first = account.notifications.get()

    again = email.record_notification(
        account_pk=account.pk, flagged_at=account.reauth_requested_at, step=0, sent_at=timezone.now()
    )

    assert again is False
    assert list(account.notifications.all()) == [first]
    account.refresh_from_db()
    assert account.reauth_notified_at == first.sent_at


# --- the reconciler -----------------------------------------------------------------------------------


def test_a_lost_first_email_is_queued_after_the_grace_period(account, reconcile, settings):
    state.flag_for_reauth(mono_account_id=account.mono_account_id)  # committed; its job never ran
    assert reconcile().first_emails == []  # the webhook's own job still has time
    assert mail.outbox == []

    age_flag(account, settings.REAUTH_EMAIL_GRACE)
    done = reconcile()

    assert done.first_emails == [account.mono_account_id]
    assert len(mail.outbox) == 1
    assert steps_sent(account) == [0]
    assert reconcile().first_emails == []


def test_the_reconciler_leaves_out_users_without_an_address_and_accounts_not_flagged(make_account, user, reconcile):
    no_address = make_account()
    user.email = ""
    user.save()
    fine = make_account()
    for account in (no_address, fine):
        state.flag_for_reauth(mono_account_id=account.mono_account_id)
        age_flag(account, DAY)
    state.mark_unlinked(mono_account_id=fine.mono_account_id)

    assert reconcile() == notification_tasks.Reconciled()
    assert mail.outbox == []


def test_the_reconciler_works_in_bounded_batches_oldest_flag_first(make_account, reconcile):
    accounts = [make_account() for _ in range(3)]
    for days, account in zip((3, 5, 4), accounts, strict=True):
        state.flag_for_reauth(mono_account_id=account.mono_account_id)
        age_flag(account, days * DAY + timedelta(hours=1))

    first = reconcile(batch=2)
    second = reconcile(batch=2)

    assert first.reminders == [accounts[1].mono_account_id, accounts[2].mono_account_id]
    assert second.reminders == [accounts[0].mono_account_id]


def test_stale_details_get_one_refresh_and_fresh_ones_none(make_account, reconcile, settings):
    stale, fresh = make_account(), make_account()
    unlinked = make_account(unlinked_at=timezone.now())
    LinkedAccount.objects.filter(pk__in=[stale.pk, unlinked.pk]).update(
        details_checked_at=timezone.now() - settings.DETAILS_MAX_AGE - timedelta(minutes=1)
    )

    assert reconcile().refreshes == [stale.mono_account_id]  # the sandbox answers it, in-process

    stale.refresh_from_db()
    assert stale.account_name  # filled from the sandbox's details
    assert stale.details_checked_at > timezone.now() - timedelta(minutes=1)
    assert reconcile().refreshes == []
    fresh.refresh_from_db()
    assert fresh.account_name == ""


def test_reconcile_command_prints_what_it_queued(account, capsys, django_capture_on_commit_callbacks):
    state.flag_for_reauth(mono_account_id=account.mono_account_id)
    age_flag(account, DAY)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("reconcile")

    out = capsys.readouterr().out
    assert f"queued reminder for {account.mono_account_id}" in out
    assert "Queued 0 first email(s), 1 reminder(s), 0 refresh(es)." in out
    assert len(mail.outbox) == 1


def test_reconcile_command_refuses_a_batch_below_one(account):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("reconcile", "--batch=0")


# --- counts for metrics and admin ---------------------------------------------------------------------


def test_sent_counts_counts_first_emails_and_reminders_since_a_time(make_account, run_tasks, reconcile):
    one, two = make_account(), make_account()
    flag(one, run_tasks)
    flag(two, run_tasks)
    age_flag(one, DAY)
    reconcile()
    Notification.objects.filter(account=two).update(sent_at=timezone.now() - 2 * DAY)

    assert schedule.sent_counts(timezone.now() - DAY) == {"first_emails": 1, "reminders": 1}
    assert schedule.sent_counts(timezone.now() - 3 * DAY) == {"first_emails": 2, "reminders": 1}
    assert schedule.sent_counts(timezone.now() + timedelta(seconds=1)) == {"first_emails": 0, "reminders": 0}


# --- admin --------------------------------------------------------------------------------------------


def test_staff_see_the_emails_sent_on_the_account_page_and_in_a_list(account, run_tasks, reconcile, admin_client):
    flag(account, run_tasks)
    age_flag(account, DAY)
    reconcile()

    page = admin_client.get(reverse("admin:accounts_linkedaccount_change", args=[account.pk])).content.decode()
    assert "Emails about broken links" in page
    assert "First email" in page
    assert "Reminder 1" in page

    listing = admin_client.get(reverse("admin:accounts_notification_changelist") + "?kind=reminder")
    assert listing.status_code == 200
    rows = listing.content.decode()
    assert rows.count('field-kind">Reminder 1<') == 1
    assert 'field-kind">First email<' not in rows  # filtered out
    assert admin_client.get(reverse("admin:accounts_notification_add")).status_code == 403
    note = Notification.objects.get(step=1)
    assert admin_client.post(reverse("admin:accounts_notification_delete", args=[note.pk])).status_code == 403
    assert Notification.objects.filter(pk=note.pk).exists()


@pytest.mark.postgres
def test_with_procrastinate_repeated_passes_queue_one_job_per_account(account, procrastinate_backend):
    from procrastinate.contrib.django.models import ProcrastinateJob

    # Jobs are rows; no worker runs them here.
    state.flag_for_reauth(mono_account_id=account.mono_account_id)
    age_flag(account, DAY)
    LinkedAccount.objects.filter(pk=account.pk).update(details_checked_at=timezone.now() - 2 * DAY)

    first, second = notification_tasks.reconcile(), notification_tasks.reconcile()

    assert (first.reminders, first.refreshes) == ([account.mono_account_id], [account.mono_account_id])
    assert second == notification_tasks.Reconciled()  # the waiting email is seen, the refresh was marked asked-for
    jobs = ProcrastinateJob.objects.order_by("task_name")
    assert [(j.task_name, j.args) for j in jobs] == [
        ("accounts.tasks.refresh_account_details", {"mono_account_id": account.mono_account_id}),
        ("accounts.tasks.send_reauth_email", {"mono_account_id": account.mono_account_id, "step": 1}),
    ]
    assert jobs[1].queueing_lock == f"reauth-mail:{account.mono_account_id}"
    assert jobs[1].lock == f"mail:{account.mono_account_id}"
