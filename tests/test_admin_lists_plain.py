"""Staff lists in plain words: deliveries name the bank and masked number (with no query per row),
event filters say what happened, the flagged column dates only a flag that stands now."""

from __future__ import annotations

import json

from django.urls import reverse
from django.utils import timezone

from webhooks.models import WebhookEvent

DELIVERIES = reverse("admin:webhooks_webhookevent_changelist")
ACCOUNTS = reverse("admin:accounts_linkedaccount_changelist")


def delivery(mono_account_id: str, n: int, event="mono.events.reauthorisation_required") -> WebhookEvent:
    return WebhookEvent.objects.create(
        mono_account_id=mono_account_id,
        event=event,
        dedupe_key=f"k{n}",
        body=json.dumps({"event": event}),
        status=WebhookEvent.Status.PROCESSED,
    )


def test_deliveries_name_the_bank_and_masked_number_and_link_to_the_account(admin_client, make_account):
    account = make_account(institution_name="GTBank", account_number_masked="******4821")
    delivery(account.mono_account_id, 1)
    delivery("65f0c0ffee0000000000ffff", 2)  # beat its account here

    page = admin_client.get(DELIVERIES).content.decode()

    change = reverse("admin:accounts_linkedaccount_change", args=[account.pk])
    assert f'<a href="{change}">GTBank<br><span class="quiet">******4821</span></a>' in page
    assert f">{account.mono_account_id}<" not in page  # Mono's raw id is not what staff read
    assert "Not linked here (65f0c0ffee0000000000ffff)" in page


def test_a_delivery_page_names_its_account_too(admin_client, make_account):
    account = make_account(institution_name="GTBank", account_number_masked="******4821")
    row = delivery(account.mono_account_id, 1)
    page = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[row.pk])).content.decode()
    assert 'GTBank<br><span class="quiet">******4821</span>' in page


def test_deliveries_list_costs_the_same_queries_at_3_and_30_rows(admin_client, make_account):
    def queries_for_page() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(DELIVERIES).status_code == 200
        return len(captured)

    for n in range(3):
        delivery(make_account().mono_account_id, n)
    few = queries_for_page()
    for n in range(3, 30):
        delivery(make_account().mono_account_id if n % 2 else f"65f0c0ffee00000000{n:06d}", n)
    assert queries_for_page() == few


def test_event_filter_reads_in_plain_words(admin_client, db):
    page = admin_client.get(DELIVERIES).content.decode()
    filters = page[page.index('id="changelist-filter"') :]
    for words in ("Bank asks to sign in again", "Reconnected", "Data updated", "Bank unlinked"):
        assert f">{words}</a>" in filters
    assert "reauthorisation_required</a>" not in filters and "account_reauthorized</a>" not in filters


def test_flagged_column_dates_only_a_flag_that_stands_now(admin_client, make_account):
    now = timezone.now()
    make_account(account_name="FLAGGED NOW", reauth_required=True, reauth_requested_at=now)
    make_account(account_name="CLEARED SINCE", reauth_required=False, reauth_requested_at=now)
    make_account(account_name="UNLINKED", reauth_required=True, reauth_requested_at=now, unlinked_at=now)

    page = admin_client.get(ACCOUNTS).content.decode()

    cells = {}
    for row in page.split("<tr")[1:]:
        for name in ("FLAGGED NOW", "CLEARED SINCE", "UNLINKED"):
            if name in row:
                cells[name] = row.split('class="field-flagged_since">')[1].split("</td>")[0]
    assert cells["FLAGGED NOW"] == f"{timezone.localtime(now):%-d %b %Y, %H:%M}"
    assert cells["CLEARED SINCE"] == "-" and cells["UNLINKED"] == "-"
