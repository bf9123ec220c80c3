"""The reconciler and reminders with real Procrastinate workers against PostgreSQL.

The workers run the periodic reconciler every second here (production: every minute) with a one
second grace for first emails (production: five minutes); everything else is as deployed. A day
passes by moving the flag back in the database.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import LinkedAccount, Notification
from monolink.mono import payloads
from monolink.mono.sandbox import sandbox_details
from notifications import tasks as notification_tasks

from .test_notifications import DAY, age_flag, steps_sent
from .workers_support import deliver, wait_for

# conftest's workers and smtp_sink: real worker processes, an SMTP sink; this process queues.
pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("procrastinate_backend")]

FAST_RECONCILER = {"RECONCILE_CRON": "* * * * * *", "REAUTH_EMAIL_GRACE_SECONDS": "1"}
SEVERAL_PASSES = 3.0  # seconds: three reconciler passes, time enough for a duplicate to show


def reminders(sink) -> int:
    return sum("Subject: Reminder: reconnect" in message for message in sink.received)


def test_a_lost_email_job_is_re_derived_by_the_reconciler_and_the_email_arrives(workers, smtp_sink, account):
    sink = smtp_sink()
    assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200
    with connection.cursor() as cursor:  # lost: a bad restore, a staff member's DELETE, a bug
        cursor.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'accounts.tasks.send_reauth_email'")
        assert cursor.rowcount == 1

    workers.start(sink, overrides=FAST_RECONCILER)

    wait_for(lambda: len(sink.received) == 1, timeout=30, what="the re-derived email")
    assert "Subject: Reconnect your GTBank account" in sink.received[0]
    wait_for(lambda: steps_sent(account) == [0], timeout=10, what="the send to be recorded")  # sent, then recorded
    time.sleep(SEVERAL_PASSES)
    assert len(sink.received) == 1


def test_reminders_fire_once_per_step_with_two_workers_and_stop_on_reconnect_or_unlink(
    workers, smtp_sink, make_account
):
    sink = smtp_sink()
    workers.start(sink, overrides=FAST_RECONCILER)
    workers.start(sink, overrides=FAST_RECONCILER)
    kept, reconnected, unlinked = make_account(), make_account(), make_account()
    for account in (kept, reconnected, unlinked):
        assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200
    wait_for(lambda: len(sink.received) == 3, timeout=30, what="the three first emails")

    assert deliver(payloads.account_reauthorized(reconnected.mono_account_id)) == 200
    assert deliver(payloads.account_unlinked(unlinked.mono_account_id)) == 200
    for account in (kept, reconnected, unlinked):
        age_flag(account, DAY)
    race_reconcilers(4)  # with both workers' periodic passes running too

    wait_for(lambda: reminders(sink) == 1, timeout=30, what="the first reminder")
    age_flag(kept, 2 * DAY)  # day 3
    wait_for(lambda: reminders(sink) == 2, timeout=30, what="the second reminder")
    time.sleep(SEVERAL_PASSES)

    assert reminders(sink) == 2
    assert len(sink.received) == 5
    wait_for(lambda: steps_sent(kept) == [0, 1, 2], timeout=10, what="the last send to be recorded")
    assert steps_sent(reconnected) == steps_sent(unlinked) == [0]
    kept.refresh_from_db()
    assert kept.reauth_notified_at == Notification.objects.get(account=kept, step=2).sent_at


def race_reconcilers(count: int) -> None:
    """`count` reconciler passes from this process at the same instant, on their own connections."""
    barrier = threading.Barrier(count)

    def run():
        try:
            barrier.wait()
            notification_tasks.reconcile()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_stale_details_get_one_refresh(workers, smtp_sink, make_account):
    stale, fresh = make_account(), make_account()
    LinkedAccount.objects.filter(pk=stale.pk).update(details_checked_at=timezone.now() - 2 * DAY)

    workers.start(smtp_sink(), overrides=FAST_RECONCILER)

    expected = sandbox_details(stale.mono_account_id).name
    wait_for(lambda: LinkedAccount.objects.get(pk=stale.pk).account_name == expected, timeout=30, what="the refresh")
    refresh_jobs = ProcrastinateJob.objects.filter(task_name="accounts.tasks.refresh_account_details")
    wait_for(lambda: not refresh_jobs.exists(), timeout=10, what="the refresh job to finish")
    refreshed_at = LinkedAccount.objects.get(pk=stale.pk).details_checked_at
    assert refreshed_at > timezone.now() - timedelta(minutes=1)
    time.sleep(SEVERAL_PASSES)

    assert LinkedAccount.objects.get(pk=stale.pk).details_checked_at == refreshed_at  # not refreshed again
    assert LinkedAccount.objects.get(pk=fresh.pk).account_name == ""
    assert not ProcrastinateJob.objects.filter(status="failed").exists()
