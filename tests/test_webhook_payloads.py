"""Every event Mono sends, in each envelope we have seen (one JSON file per variant), end to end."""

from datetime import UTC, datetime

import pytest

from accounts.models import LinkedAccount
from webhooks.models import WebhookEvent

from .webhooks_support import ACCOUNT_ID, load, post, raw

FLAGGED = {"reauth_required": True, "reauth_requested_at": datetime(2026, 11, 19, tzinfo=UTC)}


def flagged(account: LinkedAccount) -> bool:
    return account.reauth_required and account.reauth_requested_at is not None


# (payload file, account before, row status, what the account must look like after)
CASES = [
    ("account_connected.v1", {}, "processed", lambda a: not a.reauth_required and a.unlinked_at is None),
    ("account_connected.v2", {}, "processed", lambda a: not a.reauth_required and a.unlinked_at is None),
    ("reauthorisation_required.v1", {}, "processed", flagged),
    (
        "reauthorisation_required.v2",
        {},
        "processed",
        lambda a: flagged(a) and a.last_event_at == datetime(2025, 11, 20, 9, 0, tzinfo=UTC),
    ),
    (
        "account_reauthorized.v1",
        FLAGGED,
        "processed",
        lambda a: not a.reauth_required and a.reauth_completed_at is not None,
    ),
    (
        "account_reauthorized.v2",
        FLAGGED,
        "processed",
        lambda a: not a.reauth_required and a.last_event_at == datetime(2025, 11, 20, 9, 1, tzinfo=UTC),
    ),
    (
        "account_updated.v1",
        {},
        "processed",
        lambda a: (
            (a.account_name, a.account_number_masked, a.currency, a.balance, a.account_type)
            == ("ADA LOVELACE", "******3461", "NGN", 2245893, "SAVINGS_ACCOUNT")
            and (a.institution_name, a.institution_bank_code, a.institution_type)
            == ("GTBank", "058", "PERSONAL_BANKING")
            and (a.data_status, a.auth_method) == ("AVAILABLE", "internet_banking")
            and not a.reauth_required
        ),
    ),
    (
        "account_updated.v2",
        FLAGGED,  # a sync never clears the flag: Mono sends account_reauthorized for that
        "processed",
        lambda a: (
            (a.balance, a.data_status, a.institution_name, a.account_number_masked)
            == (100, "PARTIAL", "Access Bank", "******5555")
            and a.details_as_of == datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
            and a.reauth_required
        ),
    ),
    (
        "account_updated.sync_reauthorisation_required",
        {},
        "processed",
        lambda a: flagged(a) and a.balance == 500 and a.data_status == "FAILED",
    ),
    ("sync_failed.v1", {}, "processed", lambda a: not a.reauth_required and a.unlinked_at is None),
    ("sync_failed.v2", {}, "processed", lambda a: not a.reauth_required and a.unlinked_at is None),
    ("account_unlinked.account_id", FLAGGED, "processed", lambda a: a.unlinked_at and not a.reauth_required),
    (
        "account_unlinked.v2",
        {},
        "processed",
        lambda a: a.unlinked_at == datetime(2026, 11, 20, 9, 10, tzinfo=UTC),
    ),
    ("unknown_event", FLAGGED, "ignored", lambda a: a.reauth_required and a.unlinked_at is None),
]


@pytest.mark.parametrize(("name", "before", "row_status", "check"), CASES, ids=[c[0] for c in CASES])
def test_each_payload_variant_is_applied_to_the_account(make_account, name, before, row_status, check):
    account = make_account(mono_account_id=ACCOUNT_ID, **before)

    response = post(raw(name))

    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get()
    assert row.status == row_status
    assert row.event == load(name)["event"]
    assert row.mono_account_id == (ACCOUNT_ID if row_status != "ignored" else "")
    assert row.body == raw(name).decode()
    assert row.attempts == 1
    assert row.event_id == load(name).get("event_id", "")
    account.refresh_from_db()
    assert check(account)


@pytest.mark.parametrize("name", [c[0] for c in CASES if c[2] == "processed"])
def test_each_account_event_for_an_unknown_account_is_unmatched_and_changes_nothing(make_account, name):
    other = make_account()
    before = LinkedAccount.objects.values().get(pk=other.pk)

    response = post(raw(name))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "unmatched"
    assert LinkedAccount.objects.values().get(pk=other.pk) == before
