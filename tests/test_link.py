"""Linking a new bank: the widget's one-time code is exchanged once, within the request's deadline or
later by the background task, and the dashboard says what became of it.

Mono is a real HTTP server on 127.0.0.1 (the `stub_mono` fixture) or a socket that never answers
(`hanging_mono`), always with the real client. Tasks run in-process after commit (test settings);
tests/test_link_worker.py runs the background half in a real worker on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import LinkAttempt, LinkedAccount
from linking import exchange
from linking import tasks as linking_tasks
from monolink.mono import MonoUnavailable, payloads
from monolink.mono.sandbox import sandbox_details
from tests.webhooks_support import post
from webhooks.models import WebhookEvent

LINK = "/link/complete/"
DASHBOARD = "/"
STUB_ACCOUNT = "65f0c0ffee00000000000a01"  # what the stub answers for a code that is not a sandbox code


def link(client, code="code_1", institution="Access Bank"):
    return client.post(LINK, {"code": code, "institution": institution}, content_type="application/json")


def test_link_exchanges_the_code_and_shows_the_bank_on_the_dashboard(signed_in, user, stub_mono):
    response = link(signed_in)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "linked"
    account = LinkedAccount.objects.get(mono_account_id=STUB_ACCOUNT)
    assert account.user == user
    assert account.account_name == sandbox_details(STUB_ACCOUNT).name
    attempt = LinkAttempt.objects.get()
    assert (attempt.status, attempt.mono_account_id, attempt.code) == ("linked", STUB_ACCOUNT, None)
    assert attempt.code_hash == exchange.code_hash("code_1")
    body = signed_in.get(DASHBOARD).content.decode()
    assert account.account_number_masked in body
    assert "Linking" not in body


def test_the_same_code_posted_twice_links_once_with_one_exchange(signed_in, stub_mono):
    first, second = link(signed_in), link(signed_in)

    assert first.status_code == second.status_code == 200
    assert first.json()["account"] == second.json()["account"]
    assert stub_mono.count("exchange") == 1
    assert LinkedAccount.objects.count() == LinkAttempt.objects.count() == 1


def test_details_failing_after_a_good_exchange_queue_a_refresh(
    signed_in, stub_mono, django_capture_on_commit_callbacks
):
    stub_mono.plans["details"] = ["503"]  # the link's own fetch fails; the refresh's succeeds

    with django_capture_on_commit_callbacks(execute=True):  # in-process tasks run once committed
        response = link(signed_in)

    assert response.status_code == 200
    account = LinkedAccount.objects.get(mono_account_id=STUB_ACCOUNT)
    assert stub_mono.count("details") == 2  # the failed fetch, then the queued refresh (run at commit)
    assert account.account_name == sandbox_details(STUB_ACCOUNT).name  # filled in by the refresh


@pytest.mark.postgres
def test_details_failing_queue_the_refresh_job_with_the_link(signed_in, stub_mono, procrastinate_backend):
    from procrastinate.contrib.django.models import ProcrastinateJob

    stub_mono.plans["details"] = ["503"]

    assert link(signed_in).status_code == 200

    assert LinkedAccount.objects.filter(mono_account_id=STUB_ACCOUNT).exists()
    refresh = ProcrastinateJob.objects.get(task_name="accounts.tasks.refresh_account_details")
    assert (refresh.args, refresh.queue_name, refresh.status) == ({"mono_account_id": STUB_ACCOUNT}, "mono", "todo")


def test_mono_refusing_the_code_is_a_clear_failure_with_a_way_to_try_again(signed_in, stub_mono):
    stub_mono.plans["exchange"] = ["400"]

    response = link(signed_in)

    assert response.status_code == 502
    message = response.json()["message"]
    assert message.startswith("Couldn't link Access Bank.") and "link your bank again" in message
    assert "test_sk_" not in response.content.decode()
    assert not LinkedAccount.objects.exists()
    attempt = LinkAttempt.objects.get()
    assert (attempt.status, attempt.code) == ("failed", None)
    body = signed_in.get(DASHBOARD).content.decode()
    assert "Couldn&#x27;t link Access Bank." in body
    assert "Try again</button>" in body
    # The same code again: answered from the record, Mono is not asked twice.
    assert link(signed_in).status_code == 502
    assert stub_mono.count("exchange") == 1


def test_a_newer_attempt_replaces_an_old_failure_on_the_dashboard(signed_in, stub_mono):
    stub_mono.plans["exchange"] = ["400"]
    link(signed_in, code="code_bad")
    link(signed_in, code="code_good")

    body = signed_in.get(DASHBOARD).content.decode()
    assert "Couldn&#x27;t link" not in body
    assert LinkedAccount.objects.count() == 1


def test_mono_hanging_answers_pending_within_the_deadline_then_the_task_links(
    signed_in, settings, hanging_mono, stub_mono
):
    settings.MONO_API_BASE_URL = hanging_mono.url
    settings.MONO_REQUEST_DEADLINE = 1
    settings.MONO_TASK_DEADLINE = 0.3  # in-process the job also runs at commit: it meets the same silence

    started = time.monotonic()
    response = link(signed_in)
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.content
    assert elapsed < settings.MONO_REQUEST_DEADLINE + 1, elapsed
    body = response.json()
    assert (body["status"], body["message"]) == ("pending", "Linking Access Bank…")
    attempt = LinkAttempt.objects.get()
    assert (attempt.status, attempt.code, attempt.exchanging_until) == ("pending", "code_1", None)
    assert not LinkedAccount.objects.exists()
    assert "Linking Access Bank…" in signed_in.get(DASHBOARD).content.decode()
    assert signed_in.get(body["status_url"]).json()["status"] == "pending"

    # Mono answers again: the task's next retry exchanges the kept code.
    settings.MONO_API_BASE_URL = stub_mono.url
    settings.MONO_TASK_DEADLINE = 5
    assert linking_tasks.exchange_link_code(attempt_id=attempt.pk) == "linked"

    assert stub_mono.calls[0] == ("exchange", "code_1")
    attempt.refresh_from_db()
    assert (attempt.status, attempt.code) == ("linked", None)
    status = signed_in.get(body["status_url"]).json()
    assert status["status"] == "linked"
    assert status["account"] == LinkedAccount.objects.get(mono_account_id=STUB_ACCOUNT).pk


def test_the_task_keeps_the_code_while_mono_is_down_and_retries(user, stub_mono):
    attempt, _ = exchange.claim_link_code(user=user, code="code_1", institution_name="GTBank")
    stub_mono.plans["exchange"] = ["503"]

    with pytest.raises(MonoUnavailable):  # Procrastinate retries it (Backoff)
        linking_tasks.exchange_link_code(attempt_id=attempt.pk)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.code, attempt.exchanging_until) == ("pending", "code_1", None)
    assert linking_tasks.exchange_link_code(attempt_id=attempt.pk) == "linked"


def test_a_code_past_its_lifetime_fails_without_calling_mono(user, stub_mono):
    attempt, _ = exchange.claim_link_code(user=user, code="code_1", institution_name="GTBank")
    LinkAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - timedelta(minutes=11))

    assert linking_tasks.exchange_link_code(attempt_id=attempt.pk) == "failed"

    attempt.refresh_from_db()
    assert (attempt.status, attempt.code) == ("failed", None)
    assert "expired" in attempt.error
    assert stub_mono.calls == []


def test_mono_still_down_when_the_code_expires_ends_the_attempt(user, stub_mono, settings):
    settings.MONO_LINK_CODE_LIFETIME = timedelta(seconds=0.2)
    attempt, _ = exchange.claim_link_code(user=user, code="code_1", institution_name="GTBank")
    stub_mono.delay = 0.3  # the code expires while Mono is thinking
    stub_mono.plans["exchange"] = ["503"]

    assert linking_tasks.exchange_link_code(attempt_id=attempt.pk) == "failed"  # not raised: no retry can help

    attempt.refresh_from_db()
    assert (attempt.status, attempt.code) == ("failed", None)


def test_a_task_finds_the_lease_held_and_leaves_the_exchange_to_its_holder(user, stub_mono):
    attempt, _ = exchange.claim_link_code(user=user, code="code_1")
    exchange.claim_link_exchange(attempt_id=attempt.pk, seconds=30)  # a request is exchanging it right now

    with pytest.raises(exchange.LinkExchangeBusy) as busy:
        linking_tasks.exchange_link_code(attempt_id=attempt.pk)

    assert 1 <= busy.value.retry_after <= 30  # Backoff waits at least that long
    assert stub_mono.calls == []


def test_a_task_for_a_finished_attempt_does_nothing(signed_in, stub_mono):
    link(signed_in)
    attempt = LinkAttempt.objects.get()

    assert linking_tasks.exchange_link_code(attempt_id=attempt.pk) == "linked"
    assert stub_mono.count("exchange") == 1


def test_webhooks_that_beat_a_background_link_are_replayed(
    user, stub_mono, settings, django_capture_on_commit_callbacks
):
    assert post(json.dumps(payloads.account_connected(STUB_ACCOUNT)).encode()).status_code == 200
    assert post(json.dumps(payloads.reauthorisation_required(STUB_ACCOUNT)).encode()).status_code == 200
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"unmatched"}
    attempt, _ = exchange.claim_link_code(user=user, code="code_1")

    with django_capture_on_commit_callbacks(execute=True):  # the replay runs once the link committed
        assert linking_tasks.exchange_link_code(attempt_id=attempt.pk) == "linked"

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert LinkedAccount.objects.get(mono_account_id=STUB_ACCOUNT).reauth_required  # the parked flag applied


def test_an_account_of_another_user_is_a_clear_409_and_stays_theirs(signed_in, make_account, other_user, stub_mono):
    make_account(user=other_user, mono_account_id=STUB_ACCOUNT)

    response = link(signed_in)

    assert response.status_code == 409
    assert "already linked to another user" in response.json()["message"]
    assert LinkedAccount.objects.get(mono_account_id=STUB_ACCOUNT).user == other_user
    assert LinkAttempt.objects.get().status == "failed"


def test_a_code_another_user_posted_is_refused_and_changes_nothing(signed_in, other_user, stub_mono):
    theirs = Client()
    theirs.force_login(other_user)
    link(theirs)

    response = link(signed_in)

    assert response.status_code == 409
    assert response.json()["message"] == "This link code was already used."
    assert LinkAttempt.objects.get().user == other_user
    assert stub_mono.count("exchange") == 1


def test_the_status_endpoint_shows_only_the_users_own_attempts(signed_in, other_user):
    attempt, _ = exchange.claim_link_code(user=other_user, code="code_1")

    assert signed_in.get(f"/link/attempts/{attempt.pk}/").status_code == 404
    assert signed_in.post(f"/link/attempts/{attempt.pk}/").status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        {"code": "code_1", "institution": "x" * 129},
        {"code": "code 1", "institution": "GTBank"},
        {"code": "", "institution": "GTBank"},
        {"institution": "GTBank"},
    ],
)
def test_bad_input_is_a_clear_400_and_changes_nothing(signed_in, stub_mono, body):
    response = signed_in.post(LINK, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid request")
    assert not LinkAttempt.objects.exists()
    assert stub_mono.calls == []


def test_link_enforces_csrf(user, stub_mono):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(LINK, json.dumps({"code": "code_1"}), content_type="application/json")
    assert response.status_code == 403
    assert stub_mono.calls == []


def test_a_plain_form_post_still_works(signed_in, stub_mono):
    response = signed_in.post(LINK, {"code": "code_1", "institution": "Access Bank"})

    assert response.status_code == 302
    assert response["Location"] == DASHBOARD
    assert LinkedAccount.objects.filter(mono_account_id=STUB_ACCOUNT).exists()


def test_the_code_never_reaches_logs_admin_or_a_finished_row(signed_in, stub_mono, caplog, admin_client):
    caplog.set_level(logging.DEBUG)
    code = "code_secret_0123456789"
    stub_mono.plans["exchange"] = ["503"]
    link(signed_in, code=code)  # pending: the code is kept for the retry
    attempt = LinkAttempt.objects.get()
    pages = (
        admin_client.get("/admin/accounts/linkattempt/").content
        + admin_client.get(f"/admin/accounts/linkattempt/{attempt.pk}/change/").content
    )

    assert code not in caplog.text
    assert code.encode() not in pages
    assert b"Access Bank" in pages
    linking_tasks.exchange_link_code(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.code is None


@pytest.mark.postgres
def test_the_job_carries_the_attempt_id_never_the_code(signed_in, hanging_mono, settings, procrastinate_backend):
    from procrastinate.contrib.django.models import ProcrastinateJob

    settings.MONO_CLIENT = "monolink.mono.client.MonoClient"
    settings.MONO_SECRET_KEY = "test_sk_x"
    settings.MONO_API_BASE_URL = hanging_mono.url
    settings.MONO_REQUEST_DEADLINE = 1

    code = "code_secret_0123456789"
    assert link(signed_in, code=code).status_code == 202

    attempt = LinkAttempt.objects.get()
    job = ProcrastinateJob.objects.get(task_name="accounts.tasks.exchange_link_code")
    assert (job.args, job.queue_name, job.status) == ({"attempt_id": attempt.pk}, "mono", "todo")
    assert code not in json.dumps(job.args)
    # It starts once the request's deadline is over, so the two never ask Mono at once.
    assert job.scheduled_at >= timezone.now() + timedelta(seconds=1)
