"""A record's page in the staff admin: its actions on the page, Mono's enums in words, emails naming
who and which account, account numbers masked in a stored delivery's body."""

from __future__ import annotations

import json

from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, User
from webhooks.models import WebhookEvent

ACCOUNTS = reverse("admin:accounts_linkedaccount_changelist")
DELIVERIES = reverse("admin:webhooks_webhookevent_changelist")


def account_page(client, account) -> str:
    return client.get(reverse("admin:accounts_linkedaccount_change", args=[account.pk])).content.decode()


def test_a_flagged_accounts_page_carries_refresh_and_clear_which_confirms_first(admin_client, make_account):
    account = make_account(reauth_required=True, reauth_requested_at=timezone.now())
    page = account_page(admin_client, account)
    assert f'action="{ACCOUNTS}"' in page
    assert 'value="refresh_details_action">Refresh details from Mono</button>' in page
    assert 'value="clear_reauth_flag_action" class="dangerous">Clear the re-auth flag…</button>' in page

    # The page's button posts what the list's action receives: the confirmation with its reason field.
    confirm = admin_client.post(ACCOUNTS, {"action": "clear_reauth_flag_action", "_selected_action": account.pk})
    assert confirm.status_code == 200 and 'name="reason"' in confirm.content.decode()
    account.refresh_from_db()
    assert account.reauth_required


def test_an_unflagged_accounts_page_offers_no_clear(admin_client, make_account):
    page = account_page(admin_client, make_account())
    assert "Refresh details from Mono" in page and "clear_reauth_flag_action" not in page


def test_an_accounts_page_reads_monos_enums_as_words(admin_client, make_account):
    account = make_account(
        data_status="PARTIAL",
        auth_method="internet_banking",
        institution_type="PERSONAL_BANKING",
        account_type="SAVINGS_ACCOUNT",
    )
    page = account_page(admin_client, account)
    for words in ("Partial", "Internet banking", "Personal banking", "Savings account"):
        assert f'<div class="readonly">{words}</div>' in page
    for raw in ("PERSONAL_BANKING", "SAVINGS_ACCOUNT", "internet_banking"):
        assert raw not in page


def test_email_rows_name_the_user_and_the_bank(admin_client, make_account, user):
    account = make_account(institution_name="GTBank", account_number_masked="******4821")
    Notification.objects.create(account=account, flagged_at=timezone.now(), step=0, sent_at=timezone.now())
    page = account_page(admin_client, account)
    listing = admin_client.get(reverse("admin:accounts_notification_changelist")).content.decode()

    assert "First email to ada about GTBank ******4821" in page
    assert f"for account {account.pk}" not in page
    assert '<td class="field-user">ada</td>' in listing


def test_a_deliverys_page_masks_account_numbers_and_carries_reprocess(admin_client, make_account):
    body = {"event": "mono.events.account_updated", "data": {"account": {"_id": "x", "accountNumber": "0123456789"}}}
    row = WebhookEvent.objects.create(
        event="mono.events.account_updated", dedupe_key="k1", body=json.dumps(body), status=WebhookEvent.Status.FAILED
    )
    page = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[row.pk])).content.decode()

    assert "0123456789" not in page and "&quot;******6789&quot;" in page
    assert "Data updated" in page and "mono.events.account_updated" in page  # words, then Mono's name
    assert f'action="{DELIVERIES}"' in page and 'value="reprocess">Reprocess' in page


def test_a_body_that_is_not_json_still_has_its_numbers_masked(admin_client, db):
    row = WebhookEvent.objects.create(event="", dedupe_key="k2", body="accountNumber=0123456789&x", status="invalid")
    page = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[row.pk])).content.decode()
    assert "0123456789" not in page and "******6789" in page


def test_view_only_staff_see_no_reprocess_button(db):
    viewer = User.objects.create_user("viewer", password="pw-view-12345", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client = Client()
    client.force_login(viewer)
    row = WebhookEvent.objects.create(event="mono.events.sync_failed", dedupe_key="k3", body="{}", status="processed")
    page = client.get(reverse("admin:webhooks_webhookevent_change", args=[row.pk])).content.decode()
    assert 'value="reprocess"' not in page
