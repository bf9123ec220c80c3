"""Background tasks: one email per flag, refresh from Mono after re-auth, visible failures, retries.

Mono is mocked at the HTTP boundary (`responses`) with the real client. Tests that need the database
queue switch TASKS to django_tasks_db's backend and run its worker loop in-process; test_worker.py
runs the real `db_worker` command against PostgreSQL.
"""

import threading
from datetime import timedelta

import pytest
import responses
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from accounts import rules, tasks
from accounts.models import LinkedAccount

MONO = "https://api.withmono.test"
MONO_KEY = "test_sk_thisisnotarealkey0123456789"


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
def real_mono(settings):
    settings.MONO_CLIENT = "monolink.mono.client.MonoClient"
    settings.MONO_SECRET_KEY = MONO_KEY
    settings.MONO_API_BASE_URL = MONO
    settings.MONO_API_VERSION = "v2"
    settings.MONO_MAX_RETRIES = 0  # the client's own retries are tested with the client
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def db_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def run_worker() -> None:
    """django_tasks_db's own worker loop, until no task is ready."""
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def flag(account, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        return rules.flag_for_reauth(mono_account_id=account.mono_account_id, **kwargs)


# --- email once per flag ------------------------------------------------------------------------


def test_flag_emails_the_user_once_with_a_link_to_the_reauth_page(account, django_capture_on_commit_callbacks):
    assert flag(account, django_capture_on_commit_callbacks) == rules.Change.APPLIED

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Reconnect your GTBank account"
    assert "http://127.0.0.1:8000" + reverse("accounts:reauth") in message.body
    assert account.account_number_masked in message.body
    account.refresh_from_db()
    assert account.reauth_notified_at is not None


def test_flag_webhook_delivered_twice_sends_one_email(account, django_capture_on_commit_callbacks):
    now = timezone.now()
    flag(account, django_capture_on_commit_callbacks, occurred_at=now)
    again = flag(account, django_capture_on_commit_callbacks, occurred_at=now + timedelta(seconds=5))

    assert again == rules.Change.UNCHANGED
    assert len(mail.outbox) == 1


def test_notify_task_run_twice_sends_one_email(account, django_capture_on_commit_callbacks):
    flag(account, django_capture_on_commit_callbacks)
    second = tasks.notify_reauth_required.enqueue(account.pk)

    assert second.return_value is False
    assert len(mail.outbox) == 1


def test_a_new_flag_after_reauthorisation_emails_again(account, django_capture_on_commit_callbacks):
    flag(account, django_capture_on_commit_callbacks)
    rules.mark_reauthorised(mono_account_id=account.mono_account_id)  # no on_commit run: no refresh
    flag(account, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 2


def test_no_email_when_the_flag_is_cleared_before_the_task_runs(account):
    rules.flag_for_reauth(mono_account_id=account.mono_account_id)  # callbacks captured, not run
    rules.mark_reauthorised(mono_account_id=account.mono_account_id)

    result = tasks.notify_reauth_required.enqueue(account.pk)

    assert result.return_value is False
    assert mail.outbox == []


def test_nothing_is_enqueued_when_the_flagging_transaction_rolls_back(account, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        rules.flag_for_reauth(mono_account_id=account.mono_account_id)
        raise RuntimeError("the webhook handler failed after flagging")

    assert callbacks == []
    assert mail.outbox == []
    account.refresh_from_db()
    assert not account.reauth_required


def test_failed_send_releases_the_claim_so_a_rerun_emails(account, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.test_tasks.BrokenEmailBackend"
    flag(account, django_capture_on_commit_callbacks)  # the immediate backend records the failure
    account.refresh_from_db()
    assert account.reauth_notified_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert tasks.notify_reauth_required.enqueue(account.pk).return_value is True
    assert len(mail.outbox) == 1


def test_user_without_email_gets_no_email_and_no_error(account, django_capture_on_commit_callbacks):
    account.user.email = ""
    account.user.save()

    flag(account, django_capture_on_commit_callbacks)

    assert mail.outbox == []


@pytest.mark.postgres
def test_two_workers_running_the_same_notification_at_once_send_one_email(transactional_db, account):
    rules.flag_for_reauth(mono_account_id=account.mono_account_id)  # autocommit: emails at once
    assert len(mail.outbox) == 1
    LinkedAccount.objects.filter(pk=account.pk).update(reauth_notified_at=None)  # a fresh flag's state
    mail.outbox.clear()
    barrier = threading.Barrier(2)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(tasks.notify_reauth_required.call(account.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [False, True]
    assert len(mail.outbox) == 1


# --- refresh from Mono --------------------------------------------------------------------------


def test_reauthorised_account_is_refreshed_from_mono(account, real_mono, django_capture_on_commit_callbacks):
    real_mono.get(f"{MONO}/v2/accounts/{account.mono_account_id}", json=v2_account(account.mono_account_id))
    rules.flag_for_reauth(mono_account_id=account.mono_account_id)

    with django_capture_on_commit_callbacks(execute=True):
        rules.mark_reauthorised(mono_account_id=account.mono_account_id)

    account.refresh_from_db()
    assert (account.institution_name, account.balance, account.data_status) == ("Access Bank", 123456, "AVAILABLE")
    assert account.account_number_masked == "******6789"
    assert real_mono.calls[0].request.headers["mono-sec-key"] == MONO_KEY


def test_request_refresh_fetches_the_account_after_commit(account, real_mono, django_capture_on_commit_callbacks):
    real_mono.get(f"{MONO}/v2/accounts/{account.mono_account_id}", json=v2_account(account.mono_account_id))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rules.request_refresh(mono_account_id=account.mono_account_id)
        assert len(real_mono.calls) == 0  # nothing before the commit
    for callback in callbacks:
        callback()

    account.refresh_from_db()
    assert account.institution_name == "Access Bank"


def test_refresh_failure_does_not_fail_the_reauthorisation(account, real_mono, django_capture_on_commit_callbacks):
    real_mono.get(f"{MONO}/v2/accounts/{account.mono_account_id}", status=503, json={"message": "down"})
    rules.flag_for_reauth(mono_account_id=account.mono_account_id)

    with django_capture_on_commit_callbacks(execute=True):
        change = rules.mark_reauthorised(mono_account_id=account.mono_account_id)

    assert change == rules.Change.APPLIED
    account.refresh_from_db()
    assert not account.reauth_required
    assert account.institution_name == "GTBank"  # unchanged: Mono was down


def test_refresh_skips_an_unlinked_account_without_calling_mono(account, real_mono):
    rules.mark_unlinked(mono_account_id=account.mono_account_id)

    result = tasks.refresh_account_details.enqueue(account.mono_account_id)

    assert result.return_value == "skipped"
    assert len(real_mono.calls) == 0


def test_refresh_with_mono_down_retries_later_then_succeeds(transactional_db, account, real_mono, db_queue):
    url = f"{MONO}/v2/accounts/{account.mono_account_id}"
    real_mono.get(url, status=503, json={"message": "Service unavailable"})
    tasks.refresh_account_details.enqueue(account.mono_account_id)

    before = timezone.now()
    run_worker()

    first = DBTaskResult.objects.get(args_kwargs__kwargs={})
    assert (first.status, first.return_value) == ("SUCCESSFUL", "retry_scheduled")
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs == {"args": [account.mono_account_id], "kwargs": {"attempt": 2}}
    assert retry.run_after >= before + tasks.REFRESH_RETRY_BASE

    # A minute passes and Mono is back.
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    real_mono.replace(responses.GET, url, json=v2_account(account.mono_account_id, bank="Zenith Bank"))
    run_worker()

    retry.refresh_from_db()
    assert retry.status == "SUCCESSFUL"
    account.refresh_from_db()
    assert account.institution_name == "Zenith Bank"


def test_refresh_that_keeps_failing_is_failed_and_visible_in_admin(
    transactional_db, account, real_mono, db_queue, admin_client
):
    real_mono.get(f"{MONO}/v2/accounts/{account.mono_account_id}", status=503, json={"message": "down"})
    tasks.refresh_account_details.enqueue(account.mono_account_id, attempt=tasks.REFRESH_MAX_ATTEMPTS)

    run_worker()

    failed = DBTaskResult.objects.get()
    assert failed.status == "FAILED"
    assert failed.exception_class_path == "monolink.mono.types.MonoUnavailable"
    assert "503" in failed.traceback
    assert MONO_KEY not in failed.traceback
    assert not DBTaskResult.objects.filter(status="READY").exists()  # no endless retries

    changelist = admin_client.get(
        reverse("admin:django_tasks_database_dbtaskresult_changelist") + "?status__exact=FAILED"
    )
    assert changelist.status_code == 200
    assert "refresh_account_details" in changelist.content.decode()
    detail = admin_client.get(reverse("admin:django_tasks_database_dbtaskresult_change", args=[failed.pk]))
    assert "MonoUnavailable" in detail.content.decode()


def test_refresh_with_an_account_mono_no_longer_knows_fails_without_retry(
    transactional_db, account, real_mono, db_queue
):
    real_mono.get(f"{MONO}/v2/accounts/{account.mono_account_id}", status=404, json={"message": "Account not found"})
    tasks.refresh_account_details.enqueue(account.mono_account_id)

    run_worker()

    assert list(DBTaskResult.objects.values_list("status", "exception_class_path")) == [
        ("FAILED", "monolink.mono.types.MonoNotFound")
    ]


# --- token mode ---------------------------------------------------------------------------------


def test_token_mode_flag_prefetches_a_token_that_never_reaches_the_task_table(
    transactional_db, account, real_mono, db_queue, settings
):
    settings.MONO_REAUTH_MODE = "token"
    token = "reauth-token-abcdef0123456789"
    real_mono.post(f"{MONO}/accounts/{account.mono_account_id}/reauthorise", json={"token": token})

    rules.flag_for_reauth(mono_account_id=account.mono_account_id)
    run_worker()

    account.refresh_from_db()
    assert account.reauth_code == token
    results = list(DBTaskResult.objects.values_list("status", "return_value", "args_kwargs"))
    assert {status for status, _, _ in results} == {"SUCCESSFUL"}
    assert token not in repr(results)
    assert len(mail.outbox) == 1


def test_token_mode_flag_queues_one_task_and_emails_even_when_mono_is_down(
    transactional_db, account, real_mono, db_queue, settings
):
    settings.MONO_REAUTH_MODE = "token"
    real_mono.post(f"{MONO}/accounts/{account.mono_account_id}/reauthorise", status=503)

    rules.flag_for_reauth(mono_account_id=account.mono_account_id)
    # One queued row per flag: the webhook's path pays one INSERT for all the follow-up work.
    assert list(DBTaskResult.objects.values_list("task_path", flat=True)) == ["accounts.tasks.follow_up_flag"]
    run_worker()

    assert len(mail.outbox) == 1  # the email does not wait on Mono
    result = DBTaskResult.objects.get()
    assert (result.status, result.return_value) == ("SUCCESSFUL", {"emailed": True, "token": "failed"})
    account.refresh_from_db()
    assert account.reauth_code is None
