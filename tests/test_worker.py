"""Real Procrastinate workers against PostgreSQL, on a bad day: killed mid-job, a mail server that
answers 451, racing flags with two workers, a database that drops every connection.

Everything here is a real process or a real socket: `python manage.py procrastinate worker`
started as the README says, an SMTP server (aiosmtpd) on 127.0.0.1, webhooks through the real
endpoint (conftest's `workers` and `smtp_sink`, tests/workers_support.py). Only the timing settings
are shortened (heartbeat, stall limit, retry base) so a test takes seconds; docs/tasks.md gives the
production values and bench/worker_recovery.py the figures.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from django.db import connection
from django.urls import reverse
from procrastinate.contrib.django.models import ProcrastinateWorker

from accounts.models import LinkedAccount
from monolink.mono import payloads
from monolink.mono.sandbox import sandbox_details

from .workers_support import STALLED_AFTER, deliver, no_jobs_left, our_jobs, wait_for

# This process queues (conftest's procrastinate_backend); the worker processes run the jobs. Each
# test starts from an empty queue: conftest empties Procrastinate's tables around transactional tests.
pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("procrastinate_backend")]

REAPER_PERIOD = 5.0  # monolink.taskqueue.retry_stalled_jobs runs every 5 s
LEASE_BOUND = STALLED_AFTER + REAPER_PERIOD + 1.0  # + polling


def test_a_worker_process_sends_the_email_and_refreshes_the_account(workers, smtp_sink, make_account):
    sink = smtp_sink()
    flagged, reconnected = make_account(), make_account(institution_name="Kuda Bank", reauth_required=True)
    assert deliver(payloads.reauthorisation_required(flagged.mono_account_id)) == 200
    assert deliver(payloads.account_reauthorized(reconnected.mono_account_id)) == 200
    assert our_jobs().filter(status="todo").count() == 2  # committed with the webhooks

    workers.start(sink)
    wait_for(lambda: len(sink.received) == 1 and no_jobs_left(), timeout=20, what="the email and the refresh")

    assert "Subject: Reconnect your GTBank account" in sink.received[0]
    reconnected.refresh_from_db()
    assert reconnected.account_name == sandbox_details(reconnected.mono_account_id).name  # from the sandbox's API
    flagged.refresh_from_db()
    assert flagged.reauth_notified_at is not None


def test_a_worker_killed_mid_send_is_replaced_and_the_email_arrives(workers, smtp_sink, account):
    sink = smtp_sink(["stall"])  # the first attempt hangs inside the SMTP conversation
    first = workers.start(sink)
    assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200
    wait_for(sink.stalling.is_set, timeout=20, what="the first worker to be mid-send")

    first.send_signal(signal.SIGKILL)  # OOM killer, a lost machine: no clean-up runs
    killed_at = time.monotonic()
    first.wait()
    assert our_jobs().get().status == "doing"  # left behind by the dead worker
    workers.start(sink)

    wait_for(lambda: len(sink.received) == 1, timeout=LEASE_BOUND + 15, what="the email after the kill")
    recovered_in = time.monotonic() - killed_at
    assert recovered_in < LEASE_BOUND + 5, recovered_in
    assert "Subject: Reconnect your GTBank account" in sink.received[0]
    wait_for(no_jobs_left, timeout=10, what="the job to finish")
    account.refresh_from_db()
    assert account.reauth_notified_at is not None


def test_smtp_answering_451_twice_then_ok_delivers_without_anyone_acting(workers, smtp_sink, account):
    sink = smtp_sink(["451", "451"])
    workers.start(sink)

    assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200

    wait_for(lambda: len(sink.received) == 1, timeout=30, what="the retried email")
    assert sink.attempts == 3
    wait_for(no_jobs_left, timeout=10, what="the job to finish")
    assert "SMTPDataError" in workers.log(0)  # each refusal was logged with its retry


def test_two_workers_and_twenty_racing_flags_send_one_email(workers, smtp_sink, account):
    sink = smtp_sink()
    workers.start(sink)
    workers.start(sink)
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def flag():
        try:
            barrier.wait()
            statuses.append(deliver(payloads.reauthorisation_required(account.mono_account_id)))  # distinct ids
        finally:
            connection.close()

    threads = [threading.Thread(target=flag) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 20
    wait_for(lambda: len(sink.received) >= 1 and no_jobs_left(), timeout=20, what="the email")
    time.sleep(1.5)  # several polling rounds of both workers: a second email would have gone by now
    assert len(sink.received) == 1
    assert ProcrastinateWorker.objects.count() == 2 * 3  # two processes, one Procrastinate worker per queue


def test_a_worker_survives_a_five_second_database_outage(workers, smtp_sink, account, maintenance_db):
    sink = smtp_sink()
    worker = workers.start(sink)
    wait_for(ProcrastinateWorker.objects.exists, timeout=20, what="the worker to register")
    name = connection.settings_dict["NAME"]
    # A failover: every connection dropped, new ones refused for 5 seconds.
    maintenance_db.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    dropped = maintenance_db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
    ).fetchall()
    assert len(dropped) >= 1
    time.sleep(5)
    maintenance_db.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    connection.close()  # ours was dropped too

    assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200

    wait_for(lambda: len(sink.received) == 1, timeout=40, what="the email after the outage")
    # The same process, still running: either its pool rode the outage out, or Procrastinate's worker
    # stopped on a query cut mid-flight and run_worker started it again ("restarting in" in its log).
    assert worker.poll() is None


def test_a_job_that_fails_for_good_waits_in_admin_where_staff_retry_it(workers, smtp_sink, make_account, admin_client):
    sink = smtp_sink()
    gone = make_account(mono_account_id="not-a-mono-id")  # the sandbox's Mono answers 404 for it
    workers.start(sink, queues="mono,maintenance")
    assert deliver(payloads.account_reauthorized(gone.mono_account_id)) == 200

    wait_for(lambda: our_jobs().filter(status="failed").exists(), timeout=20, what="the failure")
    job = our_jobs().get()
    assert (job.task_name, job.attempts) == ("accounts.tasks.refresh_account_details", 1)  # a 404 is not retried

    changelist = admin_client.get(reverse("admin:procrastinate_procrastinatejob_changelist") + "?status=failed")
    assert changelist.status_code == 200
    assert "refresh_account_details" in changelist.content.decode()
    retried = admin_client.post(
        reverse("admin:procrastinate_procrastinatejob_changelist"),
        {"action": "retry", "_selected_action": [job.pk]},
    )
    assert retried.status_code == 302
    wait_for(lambda: our_jobs().get().attempts == 2, timeout=20, what="the retried run")
    assert LinkedAccount.objects.get(pk=gone.pk).account_name == ""
