"""Racing deliveries against PostgreSQL: real threads, each with its own connection, released together.

Mono retries and duplicates deliveries and several app servers share one database (docs/architecture.md),
so "exactly once" must hold when copies of an event arrive at the same instant, not just in turn.
"""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connections

from accounts.models import LinkedAccount
from tests.webhooks_support import ACCOUNT_ID, load, post, raw
from webhooks import handlers, pipeline
from webhooks.models import WebhookEvent

THREADS = 8
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(calls):
    """Run each callable in its own thread, all released by one barrier; return their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except BaseException as exc:  # surfaced below: a thread must not fail silently
            errors.append(exc)
        finally:
            connections.close_all()  # each thread opened its own connection

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_concurrent_copies_of_one_event_apply_once(payload_account, mailoutbox):
    body = raw("reauthorisation_required.v2")

    responses = race([lambda: post(body) for _ in range(THREADS)])

    assert [r.status_code for r in responses] == [200] * THREADS
    row = WebhookEvent.objects.get()
    assert (row.status, row.attempts) == ("processed", 1)
    assert sum("Processed" in r.json()["detail"] for r in responses) == 1
    assert len(mailoutbox) == 1  # one flag change, one notification
    payload_account.refresh_from_db()
    assert payload_account.reauth_required


def test_concurrent_copies_of_a_timestamp_less_event_apply_once(payload_account, mailoutbox):
    # No event_id: the body's hash is the dedupe key.
    body = raw("reauthorisation_required.v1")

    outcomes = race([lambda: pipeline.receive(body=body, headers={}, remote_ip=None) for _ in range(THREADS)])

    assert [o.http_status for o in outcomes] == [200] * THREADS
    assert sum(not o.duplicate for o in outcomes) == 1
    assert WebhookEvent.objects.count() == 1
    assert len(mailoutbox) == 1


def test_concurrent_retries_of_a_failed_event_apply_once(payload_account, mailoutbox, monkeypatch):
    body = raw("reauthorisation_required.v2")
    monkeypatch.setitem(handlers.HANDLERS, "mono.events.reauthorisation_required", lambda e, t: 1 / 0)
    assert post(body).status_code == 500
    monkeypatch.undo()

    responses = race([lambda: post(body) for _ in range(THREADS)])

    assert [r.status_code for r in responses] == [200] * THREADS
    row = WebhookEvent.objects.get()
    # select_for_update + the status re-check: one retry ran the handler, the rest saw it processed.
    assert (row.status, row.attempts) == ("processed", 2)
    assert len(mailoutbox) == 1


def test_racing_flag_and_reauthorised_end_in_the_newer_state(payload_account):
    flag = load("reauthorisation_required.v1") | {"event_id": "evt-flag", "timestamp": "2026-11-20T09:00:00Z"}
    done = load("account_reauthorized.v1") | {"event_id": "evt-done", "timestamp": "2026-11-20T09:00:05Z"}

    responses = race([lambda: post(flag), lambda: post(done)] * (THREADS // 2))

    assert [r.status_code for r in responses] == [200] * THREADS
    assert WebhookEvent.objects.count() == 2
    payload_account.refresh_from_db()
    assert not payload_account.reauth_required  # whichever arrived first, the newer event wins
    assert payload_account.last_event_at == datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC)


def test_replay_unmatched_racing_itself_replays_each_delivery_once(user, mailoutbox):
    post(raw("reauthorisation_required.v1"))
    LinkedAccount.objects.create(user=user, mono_account_id=ACCOUNT_ID)

    counts = race([lambda: pipeline.replay_unmatched(mono_account_id=ACCOUNT_ID) for _ in range(4)])

    assert sum(counts) == 1
    assert WebhookEvent.objects.get().attempts == 2
    assert len(mailoutbox) == 1
