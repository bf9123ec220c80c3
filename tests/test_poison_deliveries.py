"""Poison deliveries: valid JSON whose values no column, no datetime or no ordering can take.

Each is posted through the real webhook view with CSRF checks on, and each must end as a 4xx with
a stored `invalid` row (so Mono stops retrying and staff see why), or be applied safely; the staff
deliveries list must still answer afterwards.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount
from webhooks import pipeline
from webhooks.models import WebhookEvent
from webhooks.parsing import FUTURE_ALLOWANCE

from .webhooks_support import ACCOUNT_ID, load, post

LIST_URL = reverse("admin:webhooks_webhookevent_changelist")


@pytest.fixture
def account(make_account):
    return make_account(mono_account_id=ACCOUNT_ID)


def staff_pages_answer(admin_client) -> None:
    assert admin_client.get(LIST_URL).status_code == 200
    for row in WebhookEvent.objects.all():
        assert admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[row.pk])).status_code == 200
    assert admin_client.get(reverse("admin:index")).status_code == 200


def flag(**changes) -> dict:
    payload = load("reauthorisation_required.v2")
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    ("where", "payload", "reason"),
    [
        ("event_id", flag(event_id="evt_\ud800"), "'event_id'"),
        ("account id", flag(data={"account": {"_id": "60cc\ud800"}}), "data.account._id"),
        ("event", flag(event="mono.events.\ud800"), "'event'"),
        ("event, alone", {"event": "\udfff", "data": {}}, "'event'"),
    ],
)
def test_a_lone_surrogate_is_refused_and_stored_as_invalid(account, admin_client, where, payload, reason):
    response = post(payload)  # json.dumps writes the lone surrogate as the valid JSON escape \ud800

    assert response.status_code == 400, response.content
    row = WebhookEvent.objects.get()
    assert row.status == "invalid"
    assert reason in row.error and "surrogate" in row.error
    assert "\\ud" in row.body or "\\udfff" in row.body  # the body as received, for staff
    again = post(payload)  # Mono's retry: answered the same, one row
    assert again.status_code == 400
    assert WebhookEvent.objects.count() == 1
    account.refresh_from_db()
    assert not account.reauth_required
    staff_pages_answer(admin_client)


@pytest.mark.parametrize(
    "timestamp",
    ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", 2**62, "253402300800000"],
)
def test_a_timestamp_outside_what_a_date_can_hold_is_refused_and_stored_as_invalid(account, admin_client, timestamp):
    response = post(flag(timestamp=timestamp))

    assert response.status_code == 400, response.content
    row = WebhookEvent.objects.get()
    assert (row.status, row.occurred_at) == ("invalid", None)
    assert "'timestamp'" in row.error
    account.refresh_from_db()
    assert not account.reauth_required
    staff_pages_answer(admin_client)


def test_a_flag_dated_in_the_future_is_ordered_by_arrival_so_a_later_reconnection_clears_it(account, admin_client):
    flagged = post(flag(timestamp="2099-01-01T00:00:00Z"))

    assert flagged.status_code == 200
    row = WebhookEvent.objects.get()
    assert (row.status, row.occurred_at) == ("processed", None)  # not trusted: the arrival time orders it
    account.refresh_from_db()
    assert account.reauth_required
    assert account.last_event_at == row.received_at

    reauthorised = load("account_reauthorized.v2")
    reauthorised["timestamp"] = timezone.now().isoformat()
    answered = post(reauthorised)

    assert answered.status_code == 200
    assert "stale" not in answered.json()["detail"].lower()
    account.refresh_from_db()
    assert not account.reauth_required  # before the fix: stale against 2099, flagged for good
    staff_pages_answer(admin_client)


def test_a_timestamp_within_the_allowance_of_clock_skew_is_trusted(account):
    soon = timezone.now() + FUTURE_ALLOWANCE / 2

    assert post(flag(timestamp=soon.isoformat())).status_code == 200

    row = WebhookEvent.objects.get()
    assert abs(row.occurred_at - soon) < timedelta(seconds=1)


def test_reprocessing_a_future_dated_delivery_still_orders_it_by_arrival(account):
    post(flag(timestamp="2099-01-01T00:00:00Z"))
    row = WebhookEvent.objects.get()

    pipeline.reprocess(row)

    row.refresh_from_db()
    assert (row.status, row.occurred_at) == ("processed", None)
    assert LinkedAccount.objects.get().last_event_at == row.received_at
