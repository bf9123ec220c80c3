"""Exactly-once, failure and retry, ordering, unmatched accounts and slow follow-ups."""

import json
from datetime import UTC, datetime

import pytest
import responses
from django.core import mail
from django.db import transaction
from django.test import override_settings

from accounts.models import LinkedAccount
from linking import exchange
from reauth import state
from webhooks import handlers, pipeline
from webhooks.models import WebhookEvent

from .webhooks_support import ACCOUNT_ID, load, post, raw


def with_time(name: str, when: datetime, event_id: str) -> dict:
    payload = load(name)
    payload.update(timestamp=when.isoformat(), event_id=event_id)
    return payload


def test_sequential_duplicate_is_200_with_no_second_effect(payload_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(raw("reauthorisation_required.v1"))
    payload_account.refresh_from_db()
    requested_at = payload_account.reauth_requested_at
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = post(raw("reauthorisation_required.v1"))

    assert (first.status_code, second.status_code) == (200, 200)
    assert "Duplicate" in second.json()["detail"]
    row = WebhookEvent.objects.get()
    assert (row.status, row.attempts) == ("processed", 1)  # a duplicate does not bump attempts
    assert callbacks == []  # no follow-up task enqueued the second time
    assert len(mail.outbox) == 1
    payload_account.refresh_from_db()
    assert payload_account.reauth_requested_at == requested_at


def test_same_event_id_with_a_reserialised_body_is_a_duplicate(payload_account):
    payload = load("reauthorisation_required.v2")
    post(payload)
    post(json.dumps(payload, indent=4).encode())

    assert WebhookEvent.objects.count() == 1


def test_handler_fault_rolls_back_keeps_the_error_and_mono_retry_processes_it(payload_account, monkeypatch):
    def flag_then_fail(event, occurred_at):
        state.flag_for_reauth(mono_account_id=event.account_id, occurred_at=occurred_at)
        raise RuntimeError("bank adapter exploded")

    monkeypatch.setitem(handlers.HANDLERS, "mono.events.reauthorisation_required", flag_then_fail)
    failed = post(raw("reauthorisation_required.v2"))

    assert failed.status_code == 500
    row = WebhookEvent.objects.get()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error == "RuntimeError: bank adapter exploded"
    assert "flag_then_fail" in row.traceback
    payload_account.refresh_from_db()
    assert not payload_account.reauth_required  # the handler's effect rolled back with it

    monkeypatch.undo()
    retried = post(raw("reauthorisation_required.v2"))  # Mono's retry: same event_id

    assert retried.status_code == 200
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error, row.traceback) == ("processed", 2, "", "")
    payload_account.refresh_from_db()
    assert payload_account.reauth_required


def test_failed_retry_that_fails_again_stays_failed_and_counts_the_attempt(payload_account, monkeypatch):
    def boom(event, occurred_at):
        raise ValueError("still broken")

    monkeypatch.setitem(handlers.HANDLERS, "mono.events.account_unlinked", boom)
    post(raw("account_unlinked.v2"))
    again = post(raw("account_unlinked.v2"))

    assert again.status_code == 500
    row = WebhookEvent.objects.get()
    assert (row.status, row.attempts, row.error) == ("failed", 2, "ValueError: still broken")
    payload_account.refresh_from_db()
    assert payload_account.unlinked_at is None


def test_late_reauthorisation_required_does_not_reflag_a_reauthorised_account(payload_account):
    post(with_time("account_reauthorized.v1", datetime(2026, 11, 20, 10, 0, tzinfo=UTC), "evt-b"))
    late = post(with_time("reauthorisation_required.v1", datetime(2026, 11, 20, 9, 59, tzinfo=UTC), "evt-a"))

    assert late.status_code == 200
    assert "stale" in late.json()["detail"]
    payload_account.refresh_from_db()
    assert not payload_account.reauth_required
    assert payload_account.last_event_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_late_account_updated_does_not_roll_back_newer_details(payload_account):
    newer = load("account_updated.v1")
    newer.update(timestamp="2026-11-20T10:00:00Z", event_id="evt-new")
    older = load("account_updated.v2")
    older["timestamp"] = "2026-11-20T09:00:00Z"
    post(newer)
    post(older)

    payload_account.refresh_from_db()
    assert payload_account.balance == 2245893


def test_reprocessing_an_old_timestamp_less_flag_is_stale_after_a_reauth(payload_account):
    # v1 payloads carry no timestamp: arrival time orders them, so a replay cannot undo newer state.
    post(raw("reauthorisation_required.v1"))
    post(raw("account_reauthorized.v1"))
    flag_row = WebhookEvent.objects.get(event="mono.events.reauthorisation_required")

    outcome = pipeline.reprocess(flag_row)

    assert outcome.http_status == 200
    assert "stale" in outcome.detail
    payload_account.refresh_from_db()
    assert not payload_account.reauth_required
    flag_row.refresh_from_db()
    assert (flag_row.status, flag_row.attempts) == ("processed", 2)


def test_reprocessing_a_processed_row_reapplies_idempotently(payload_account):
    post(raw("reauthorisation_required.v2"))
    row = WebhookEvent.objects.get()

    outcome = pipeline.reprocess(row)

    assert outcome.http_status == 200
    assert "Was processed" in outcome.detail and "unchanged" in outcome.detail
    assert LinkedAccount.objects.flagged().count() == 1


def test_unknown_account_is_unmatched_then_replayed_when_linked(user, django_capture_on_commit_callbacks):
    assert post(raw("reauthorisation_required.v1")).status_code == 200
    assert post(raw("account_connected.v1")).status_code == 200
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"unmatched"}

    with django_capture_on_commit_callbacks(execute=True):
        account = exchange.link_account(user=user, mono_account_id=ACCOUNT_ID)

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    account.refresh_from_db()
    assert account.reauth_required


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_linking_queues_the_parked_deliveries_replay_in_its_own_transaction(user, procrastinate_backend):
    """The outbox: a link that commits carries its replay job; one that rolls back leaves none."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    from webhooks import tasks as webhook_tasks

    assert post(raw("reauthorisation_required.v1")).status_code == 200  # parked: nobody linked it yet
    replays = ProcrastinateJob.objects.filter(task_name="webhooks.tasks.replay_parked_deliveries")

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        exchange.link_account(user=user, mono_account_id=ACCOUNT_ID)
        raise Abandoned
    assert not replays.exists() and not LinkedAccount.objects.exists()

    exchange.link_account(user=user, mono_account_id=ACCOUNT_ID)
    [job] = replays
    assert (job.queue_name, job.args) == ("maintenance", {"mono_account_id": ACCOUNT_ID})
    assert WebhookEvent.objects.get().status == "unmatched"  # nothing ran inside the link's request

    assert webhook_tasks.replay_parked_deliveries(**job.args) == 1  # what the worker runs
    assert WebhookEvent.objects.get().status == "processed"
    assert LinkedAccount.objects.get().reauth_required


def test_replay_unmatched_returns_how_many_it_replayed_and_leaves_others(user, make_account):
    post(raw("reauthorisation_required.v1"))
    post(raw("sync_failed.v1"))
    other = load("reauthorisation_required.v1")
    other["data"]["account"]["_id"] = "ffffffffffffffffffffffff"
    post(other)
    LinkedAccount.objects.create(user=user, mono_account_id=ACCOUNT_ID)

    assert pipeline.replay_unmatched(mono_account_id=ACCOUNT_ID) == 2
    assert pipeline.replay_unmatched(mono_account_id=ACCOUNT_ID) == 0
    assert WebhookEvent.objects.filter(status="unmatched").get().mono_account_id == "ffffffffffffffffffffffff"


def test_duplicate_of_an_unmatched_event_is_processed_once_the_account_exists(user):
    post(raw("account_unlinked.v2"))
    LinkedAccount.objects.create(user=user, mono_account_id=ACCOUNT_ID)

    assert post(raw("account_unlinked.v2")).status_code == 200

    assert WebhookEvent.objects.get().status == "processed"
    assert LinkedAccount.objects.get().unlinked_at is not None


def test_unknown_event_is_ignored_and_acknowledged(payload_account):
    response = post(raw("unknown_event"))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"


def test_invalid_duplicate_answers_400_again_and_stores_one_row(db):
    body = {"event": "mono.events.account_reauthorized", "data": {"account": {}}}
    first, second = post(body), post(body)

    assert (first.status_code, second.status_code) == (400, 400)
    assert second.json()["detail"] == first.json()["detail"]
    assert WebhookEvent.objects.get().status == "invalid"


@pytest.mark.django_db(transaction=True)
@override_settings(
    MONO_CLIENT="monolink.mono.client.MonoClient",
    MONO_SECRET_KEY="test_sk_webhooks",
    MONO_API_VERSION="v2",
    MONO_MAX_RETRIES=0,
)
@responses.activate
def test_reauthorised_answers_200_even_when_the_details_refresh_finds_mono_down(make_account):
    # The refresh is a task after commit; in-process (the test settings) it runs inside the request,
    # and its failure is logged, never raised into the webhook's answer.
    account = make_account(mono_account_id=ACCOUNT_ID, reauth_required=True)
    outage = responses.get(f"https://api.withmono.com/v2/accounts/{ACCOUNT_ID}", status=500, json={"message": "down"})

    response = post(raw("account_reauthorized.v1"))

    assert response.status_code == 200
    assert outage.call_count == 1  # the follow-up really ran, and really failed
    assert WebhookEvent.objects.get().status == "processed"
    account.refresh_from_db()
    assert not account.reauth_required


@pytest.mark.django_db(transaction=True)
def test_flag_emails_the_user_once_after_commit(payload_account):
    post(raw("reauthorisation_required.v1"))
    post(raw("reauthorisation_required.v1"))
    post(raw("account_updated.sync_reauthorisation_required"))

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]


def test_receive_without_http_applies_the_same_rules(payload_account):
    outcome = pipeline.receive(body=raw("account_unlinked.v2"), headers={"X-Test": "1"}, remote_ip=None)

    assert (outcome.http_status, outcome.status) == (200, "processed")
    assert outcome.delivery.headers == {"x-test": "1"}
    payload_account.refresh_from_db()
    assert payload_account.unlinked_at is not None


@override_settings(WEBHOOK_MAX_BODY_BYTES=100)
def test_receive_refuses_a_body_over_the_limit_even_without_http(payload_account):
    outcome = pipeline.receive(body=raw("account_updated.v1"), headers={}, remote_ip=None)

    assert outcome.http_status == 413
    assert WebhookEvent.objects.count() == 0
