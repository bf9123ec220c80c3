"""Background tasks: one email per flag, refresh from Mono after re-auth, backoff, the outbox.

Webhooks go through the real endpoint; tasks run in-process after commit (the test settings), so
their effects are visible at once. Mono is mocked at the HTTP boundary (`responses`) with the real
client. tests/test_worker.py runs real Procrastinate workers against PostgreSQL.
"""

import re
import smtplib

import psycopg
import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.jobs import Job

from monolink.mono import MonoNotFound, MonoRateLimited, MonoUnavailable, payloads
from monolink.taskqueue import Backoff
from notifications import tasks as notification_tasks
from reauth import state
from reauth import tasks as reauth_tasks
from webhooks import handlers, parsing

from .conftest import MONO_API, MONO_TEST_KEY, ON_POSTGRES
from .webhooks_support import post


def v2_account(account_id: str, *, bank: str = "Access Bank", balance: int = 123456) -> dict:
    return {
        "status": "successful",
        "message": "Request completed",
        "data": {
            "account": {
                "id": account_id,
                "name": "ADA OKAFOR",
                "account_number": "0123456789",
                "currency": "NGN",
                "balance": balance,
                "type": "SAVINGS_ACCOUNT",
                "institution": {"name": bank, "bank_code": "044", "type": "PERSONAL_BANKING"},
            },
            "customer": {"id": "cus_1"},
            "meta": {"data_status": "available", "auth_method": "internet_banking"},
        },
    }


class BrokenEmailBackend(BaseEmailBackend):
    """An SMTP server that refuses everything."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("smtp down")


@pytest.fixture
def deliver(settings, django_capture_on_commit_callbacks):
    """POST a payload to the real webhook endpoint; tasks queued by it run once it has committed."""

    def deliver_and_run_tasks(payload: dict) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return post(payload).status_code

    return deliver_and_run_tasks


# --- email once per flag ------------------------------------------------------------------------


def test_flag_emails_the_user_once_with_a_link_to_the_reauth_page(account, deliver):
    assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Reconnect your GTBank account"
    assert "http://127.0.0.1:8000" + reverse("web:reauth") in message.body
    assert account.account_number_masked in message.body
    account.refresh_from_db()
    assert account.reauth_notified_at is not None


def test_flag_webhook_delivered_twice_and_again_under_a_new_id_sends_one_email(account, deliver):
    flag = payloads.reauthorisation_required(account.mono_account_id)
    assert deliver(flag) == 200
    assert deliver(flag) == 200  # Mono's retry: the same event_id
    assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200  # same news, new id

    assert len(mail.outbox) == 1


def test_email_task_run_twice_sends_one_email(account, deliver):
    deliver(payloads.reauthorisation_required(account.mono_account_id))

    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id) == "already_sent"
    assert len(mail.outbox) == 1


def test_a_new_flag_after_reauthorisation_emails_again(account, deliver):
    deliver(payloads.reauthorisation_required(account.mono_account_id))
    state.mark_reauthorised(mono_account_id=account.mono_account_id)
    deliver(payloads.reauthorisation_required(account.mono_account_id))

    assert len(mail.outbox) == 2


def test_no_email_when_the_flag_is_cleared_before_the_task_runs(account):
    state.flag_for_reauth(mono_account_id=account.mono_account_id)
    state.mark_reauthorised(mono_account_id=account.mono_account_id)

    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id) == "not_flagged"
    assert mail.outbox == []


def test_nothing_is_queued_when_the_flagging_transaction_rolls_back(account, django_capture_on_commit_callbacks):
    event = parsing.parse_event(payloads.reauthorisation_required(account.mono_account_id))
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert handlers.reauthorisation_required(event, None).changes == (("flag", state.Change.APPLIED),)
        raise RuntimeError("the webhook handler failed after flagging")

    assert callbacks == []
    assert mail.outbox == []
    account.refresh_from_db()
    assert not account.reauth_required


def test_a_failed_send_is_not_recorded_so_the_retry_emails(account, settings):
    state.flag_for_reauth(mono_account_id=account.mono_account_id)
    settings.EMAIL_BACKEND = "tests.test_tasks.BrokenEmailBackend"

    with pytest.raises(ConnectionRefusedError):  # an OSError: the task's backoff retries it
        notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id)
    account.refresh_from_db()
    assert account.reauth_notified_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id) == "sent"
    assert len(mail.outbox) == 1


def test_a_resent_email_keeps_its_message_id_so_mail_systems_can_fold_copies(account):
    state.flag_for_reauth(mono_account_id=account.mono_account_id)
    notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id)
    account.notifications.all().delete()  # as if the worker was killed between the send and the record

    notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id)

    first, second = (message.extra_headers["Message-ID"] for message in mail.outbox)
    assert first == second
    assert re.fullmatch(rf"<reauth-{account.pk}-\d+@127\.0\.0\.1>", first)
    assert account.notifications.count() == 1


def test_user_without_email_gets_no_email_and_no_error(account, deliver):
    account.user.email = ""
    account.user.save()

    assert deliver(payloads.reauthorisation_required(account.mono_account_id)) == 200

    assert mail.outbox == []


# --- refresh from Mono --------------------------------------------------------------------------


def test_reauthorised_account_is_refreshed_from_mono(account, real_mono, deliver):
    real_mono.get(f"{MONO_API}/v2/accounts/{account.mono_account_id}", json=v2_account(account.mono_account_id))
    state.flag_for_reauth(mono_account_id=account.mono_account_id)

    assert deliver(payloads.account_reauthorized(account.mono_account_id)) == 200

    account.refresh_from_db()
    assert (account.institution_name, account.balance, account.data_status) == ("Access Bank", 123456, "AVAILABLE")
    assert account.account_number_masked == "******6789"
    assert real_mono.calls[0].request.headers["mono-sec-key"] == MONO_TEST_KEY


def test_refresh_failure_does_not_fail_the_reauthorisation(account, real_mono, deliver):
    real_mono.get(f"{MONO_API}/v2/accounts/{account.mono_account_id}", status=503, json={"message": "down"})
    state.flag_for_reauth(mono_account_id=account.mono_account_id)

    assert deliver(payloads.account_reauthorized(account.mono_account_id)) == 200

    account.refresh_from_db()
    assert not account.reauth_required
    assert account.institution_name == "GTBank"  # unchanged: Mono was down


def test_refresh_skips_an_unlinked_account_without_calling_mono(account, real_mono):
    state.mark_unlinked(mono_account_id=account.mono_account_id)

    assert reauth_tasks.refresh_account_details(mono_account_id=account.mono_account_id) == "skipped"
    assert len(real_mono.calls) == 0


def test_refresh_from_a_task_uses_the_task_budget_not_the_request_deadline(account, real_mono, settings):
    settings.MONO_TASK_DEADLINE = 40
    settings.MONO_TIMEOUT = (3.05, 30)
    real_mono.get(f"{MONO_API}/v2/accounts/{account.mono_account_id}", json=v2_account(account.mono_account_id))

    reauth_tasks.refresh_account_details(mono_account_id=account.mono_account_id)

    _connect, read = real_mono.calls[0].request.req_kwargs["timeout"]
    assert read > settings.MONO_REQUEST_DEADLINE  # 30 s fits in the task's 40 s, not in a request's 8 s


# --- backoff: jittered, growing, capped, transient errors only -----------------------------------


def job(attempts: int) -> Job:
    return Job(id=1, queue="mono", lock=None, queueing_lock=None, task_name="t", attempts=attempts)


def wait_of(strategy: Backoff, exc: BaseException, attempts: int) -> float | None:
    """The wait the strategy chose, to the tenth of a second (it answers with a time to retry at)."""
    decided_at = timezone.now()
    decision = strategy.get_retry_decision(exception=exc, job=job(attempts))
    return None if decision is None else round((decision.retry_at - decided_at).total_seconds(), 1)


def test_backoff_doubles_with_jitter_up_to_the_cap(settings):
    settings.TASKS_RETRY_BASE, settings.TASKS_RETRY_CAP = 2, 20
    strategy = Backoff(max_attempts=10, retry_exceptions=[MonoUnavailable])

    for attempts, ceiling in [(0, 2), (1, 4), (2, 8), (3, 16), (4, 20), (8, 20)]:
        waits = {wait_of(strategy, MonoUnavailable("down"), attempts) for _ in range(50)}
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), (attempts, waits)
        assert len(waits) > 1  # jittered: failed jobs do not all come back in the same second


def test_backoff_gives_up_after_max_attempts_and_on_permanent_errors(settings):
    strategy = Backoff(max_attempts=3, retry_exceptions=[MonoUnavailable, MonoRateLimited])

    assert wait_of(strategy, MonoUnavailable("down"), 2) is not None
    assert wait_of(strategy, MonoUnavailable("down"), 3) is None  # failed: staff see it in admin
    assert wait_of(strategy, MonoNotFound("gone"), 0) is None  # retrying cannot fix it


def test_backoff_waits_at_least_what_mono_asked_for(settings):
    settings.TASKS_RETRY_BASE = 1
    strategy = Backoff(max_attempts=3, retry_exceptions=[MonoRateLimited])

    assert wait_of(strategy, MonoRateLimited("slow down", retry_after=120), 0) == 120


def test_email_task_retries_transient_smtp_failures_only():
    strategy = notification_tasks.send_reauth_email.retry_strategy

    assert strategy.get_retry_decision(exception=smtplib.SMTPDataError(451, b"try later"), job=job(0))
    assert strategy.get_retry_decision(exception=ConnectionRefusedError(), job=job(0))
    assert strategy.get_retry_decision(exception=ValueError("a bug"), job=job(0)) is None


# --- the outbox (Procrastinate's jobs live in our PostgreSQL database) ---------------------------


@pytest.mark.postgres
def test_a_flag_and_its_email_job_commit_together_or_not_at_all(account, procrastinate_backend):
    assert ON_POSTGRES
    event = parsing.parse_event(payloads.reauthorisation_required(account.mono_account_id))

    with pytest.raises(RuntimeError), transaction.atomic():
        handlers.reauthorisation_required(event, None)
        assert ProcrastinateJob.objects.filter(task_name="accounts.tasks.send_reauth_email").count() == 1
        raise RuntimeError("the handler failed after flagging")
    assert not ProcrastinateJob.objects.exists()

    with transaction.atomic():
        handlers.reauthorisation_required(event, None)
    job = ProcrastinateJob.objects.get()
    assert (job.task_name, job.queue_name, job.status) == ("accounts.tasks.send_reauth_email", "mail", "todo")
    assert job.args == {"mono_account_id": account.mono_account_id, "step": 0}
    assert mail.outbox == []  # nothing ran in-process


@pytest.mark.postgres
def test_at_most_one_refresh_waits_per_account(account, procrastinate_backend):
    with transaction.atomic():
        for _ in range(5):
            reauth_tasks.queue_refresh(mono_account_id=account.mono_account_id)
        state.mark_unlinked(mono_account_id=account.mono_account_id)  # the transaction is still usable

    assert ProcrastinateJob.objects.filter(task_name="accounts.tasks.refresh_account_details").count() == 1
    account.refresh_from_db()
    assert account.unlinked_at is not None


@pytest.mark.postgres
def test_a_queued_job_commits_without_a_notify(transactional_db, account, procrastinate_backend):
    """Our workers poll, so Procrastinate's NOTIFY would only serialise every webhook's commit
    (accounts migration 0008 switches its trigger off)."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], autocommit=True
    ) as listener:
        listener.execute("LISTEN procrastinate_any_queue_v1")
        with transaction.atomic():
            reauth_tasks.queue_refresh(mono_account_id=account.mono_account_id)

        assert not connection.in_atomic_block  # committed for real: a NOTIFY would be on its way now
        assert ProcrastinateJob.objects.filter(task_name="accounts.tasks.refresh_account_details").count() == 1
        assert list(listener.notifies(timeout=0.5)) == []
