"""Staff's LinkedAccount admin: who needs re-authorisation, and actions that go through the services."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount, User
from reauth import credentials
from staff.admin.lists import EstimatedCountPaginator
from webhooks.models import WebhookEvent

LIST_URL = reverse("admin:accounts_linkedaccount_changelist")
TOKEN = "reauth-token-SECRET-VALUE-abcdefgh1234"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the institution filter's choices are cached between requests
    yield
    cache.clear()


@pytest.fixture
def staff_viewer(db):
    """Staff with view permission only: sees the lists, may not act."""
    viewer = User.objects.create_user("viewer", email="viewer@example.com", password="pw-view-12345", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_linkedaccount"), Permission.objects.get(codename="view_webhookevent")
    )
    client = Client()
    client.force_login(viewer)
    return client


def change_url(account):
    return reverse("admin:accounts_linkedaccount_change", args=[account.pk])


def post_action(client, action, accounts, **extra):
    data = {"action": action, "_selected_action": [a.pk for a in accounts], "index": 0, **extra}
    return client.post(LIST_URL, data)


def make_delivery(mono_account_id="", **fields):
    n = WebhookEvent.objects.count() + 1
    fields.setdefault("event", "mono.events.account_updated")
    fields.setdefault("dedupe_key", f"key-{n}-{mono_account_id}")
    fields.setdefault("body", '{"event": "mono.events.account_updated", "data": {}}')
    fields.setdefault("status", WebhookEvent.Status.PROCESSED)
    return WebhookEvent.objects.create(mono_account_id=mono_account_id, **fields)


# --- who may see it ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        LIST_URL,
        reverse("admin:webhooks_webhookevent_changelist"),
    ],
)
def test_anonymous_visitor_is_sent_to_the_admin_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_signed_in_non_staff_user_is_refused(client, user, account):
    client.force_login(user)
    for url in (LIST_URL, change_url(account), reverse("admin:webhooks_webhookevent_changelist")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_view_only_staff_sees_the_list_but_no_actions(staff_viewer, make_account):
    flagged = make_account(reauth_required=True, reauth_requested_at=timezone.now())
    response = staff_viewer.get(LIST_URL)
    assert response.status_code == 200
    assert flagged.mono_account_id in response.text
    assert response.context["action_form"] is None
    assert "Clear re-auth flag" not in response.text
    detail = staff_viewer.get(change_url(flagged))
    assert detail.status_code == 200


def test_view_only_staff_cannot_run_an_action_by_posting_it(staff_viewer, make_account):
    flagged = make_account(reauth_required=True, reauth_requested_at=timezone.now())
    response = post_action(staff_viewer, "clear_reauth_flag_action", [flagged], post="yes", reason="because")
    assert response.status_code == 200  # just the list again: no action is offered to this user
    flagged.refresh_from_db()
    assert flagged.reauth_required is True
    assert not LogEntry.objects.exists()


def test_staff_with_change_permission_gets_the_actions(make_account, db):
    staff = User.objects.create_user("changer", password="pw-change-12345", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_linkedaccount"), Permission.objects.get(codename="change_linkedaccount")
    )
    client = Client()
    client.force_login(staff)
    make_account()
    response = client.get(LIST_URL)
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert "clear_reauth_flag_action" in choices
    assert "refresh_details_action" in choices
    assert "fetch_reauth_token_action" not in choices  # tokens are minted when the user clicks Reconnect


def test_nobody_adds_or_deletes_accounts_in_the_admin(admin_client, account):
    assert admin_client.get(reverse("admin:accounts_linkedaccount_add")).status_code == 403
    assert admin_client.get(reverse("admin:accounts_linkedaccount_delete", args=[account.pk])).status_code == 403


# --- the list ------------------------------------------------------------------------------------


def test_list_shows_user_bank_number_state_badge_and_last_delivery_in_words(admin_client, make_account):
    now = timezone.now()
    flagged = make_account(reauth_required=True, reauth_requested_at=now, data_status="AVAILABLE")
    make_delivery(flagged.mono_account_id, event="mono.events.reauthorisation_required")
    response = admin_client.get(LIST_URL)
    text = response.text
    assert "ada" in text and "GTBank" in text and flagged.account_number_masked in text
    assert '<span class="badge badge-needs_reauth">Needs reconnecting</span>' in text
    local = now.astimezone(timezone.get_current_timezone())
    assert f'Bank asks to sign in again<br><span class="quiet">{local:%-d %b %Y, %H:%M}</span>' in text
    assert '<td class="field-data_status_label">Available</td>' in text
    assert f'<span class="quiet">GTBank {flagged.account_number_masked}</span>' in text
    assert "Account number masked" not in text and "Institution name" not in text


def test_summary_counts_flagged_awaiting_and_failed_deliveries_and_links_to_the_lists(admin_client, make_account):
    now = timezone.now()
    make_account(reauth_required=True, reauth_requested_at=now)
    make_account(reauth_required=True, reauth_requested_at=now, reauth_submitted_at=now)
    make_account(reauth_required=True, reauth_requested_at=now, unlinked_at=now)  # unlinked: not counted
    make_account()
    make_delivery("x", status=WebhookEvent.Status.FAILED, dedupe_key="f1")
    make_delivery("", status=WebhookEvent.Status.INVALID, dedupe_key="i1")  # counted with failed
    old = make_delivery("x", status=WebhookEvent.Status.FAILED, dedupe_key="f2")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=now - timedelta(hours=25))

    summary = admin_client.get(LIST_URL).context["reauth_summary"]
    assert (summary["flagged"], summary["awaiting"], summary["failed"]) == (2, 1, 2)
    assert admin_client.get(summary["flagged_url"]).context["cl"].result_count == 2
    assert admin_client.get(summary["awaiting_url"]).context["cl"].result_count == 1
    assert admin_client.get(summary["failed_url"]).context["cl"].result_count == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("reauth_state=flagged", {"needs", "awaiting"}),
        ("reauth_state=needs_reauth", {"needs"}),
        ("reauth_state=awaiting", {"awaiting"}),
        ("reauth_state=ok", {"ok"}),
        ("unlinked=yes", {"unlinked"}),
        ("unlinked=no", {"needs", "awaiting", "ok"}),
        ("data_status=FAILED", {"ok"}),
        ("institution=Kuda+Bank", {"awaiting"}),
    ],
)
def test_filters_narrow_the_list(admin_client, make_account, query, expected):
    now = timezone.now()
    accounts = {
        "needs": make_account(reauth_required=True, reauth_requested_at=now, data_status="AVAILABLE"),
        "awaiting": make_account(
            reauth_required=True, reauth_requested_at=now, reauth_submitted_at=now, institution_name="Kuda Bank"
        ),
        "ok": make_account(data_status="FAILED"),
        "unlinked": make_account(reauth_required=True, reauth_requested_at=now, unlinked_at=now),
    }
    shown = {obj.pk for obj in admin_client.get(f"{LIST_URL}?{query}").context["cl"].result_list}
    assert shown == {accounts[name].pk for name in expected}


def test_search_finds_partial_names_numbers_usernames_and_emails(admin_client, make_account, other_user):
    mine = make_account(account_name="ADAEZE OKAFOR", account_number_masked="******4321")
    theirs = make_account(user=other_user, account_name="BOLA ADAMS", account_number_masked="******9876")

    def found(term):
        return {obj.pk for obj in admin_client.get(LIST_URL, {"q": term}).context["cl"].result_list}

    assert found(theirs.mono_account_id) == {theirs.pk}
    assert found("BOLA@example") == {theirs.pk}
    assert found("ada") == {mine.pk, theirs.pk}  # Ada's username and name, Bola's account name
    assert found("okafor") == {mine.pk}
    assert found("4321") == {mine.pk}
    assert found("0123454321") == {mine.pk}  # a full number typed: the masked one keeps the last 4 digits
    assert found("ada 9876") == {theirs.pk}  # every word must match
    assert found('"bola adams"') == {theirs.pk}
    assert found("nobody") == set()


def test_flagged_list_is_newest_flag_first(admin_client, make_account):
    now = timezone.now()
    older = make_account(reauth_required=True, reauth_requested_at=now - timedelta(hours=2))
    newer = make_account(reauth_required=True, reauth_requested_at=now)
    oldest_but_highest_id = make_account(reauth_required=True, reauth_requested_at=now - timedelta(days=1))
    shown = [obj.pk for obj in admin_client.get(LIST_URL, {"reauth_state": "flagged"}).context["cl"].result_list]
    assert shown == [newer.pk, older.pk, oldest_but_highest_id.pk]


# --- the token is never shown --------------------------------------------------------------------


def test_reauth_token_fingerprint_is_shown_never_a_token_and_not_a_form_field(admin_client, make_account):
    account = make_account(
        reauth_required=True,
        reauth_requested_at=timezone.now(),
        reauth_token_fingerprint=credentials.token_fingerprint(TOKEN),
        reauth_token_issued_at=timezone.now(),
    )
    # A row written around the rules (a short token left in the column; Mono's documented example is
    # 20 characters) is never shown either.
    legacy_token = "VwxcfeLRZvq1UlD5WiuN"
    legacy = make_account(
        reauth_required=True, reauth_requested_at=timezone.now(), reauth_token_fingerprint=legacy_token
    )
    listing = admin_client.get(LIST_URL)
    detail = admin_client.get(change_url(account))
    legacy_detail = admin_client.get(change_url(legacy))
    assert TOKEN not in listing.text and TOKEN not in detail.text
    assert legacy_token not in listing.text and legacy_token not in legacy_detail.text
    assert f"fingerprint {account.reauth_token_fingerprint}, minted " in detail.text
    assert "hidden: not a fingerprint" in legacy_detail.text
    assert "reauth_token_fingerprint" not in detail.context["adminform"].form.fields
    assert 'name="reauth_token_fingerprint"' not in detail.text


def test_detail_page_lists_the_accounts_last_20_deliveries_with_links(admin_client, account, make_account):
    other = make_account()
    deliveries = [make_delivery(account.mono_account_id, dedupe_key=f"d{i}") for i in range(22)]
    foreign = make_delivery(other.mono_account_id, dedupe_key="foreign", event="mono.events.sync_failed")
    text = admin_client.get(change_url(account)).text
    links = [reverse("admin:webhooks_webhookevent_change", args=[d.pk]) for d in deliveries]
    assert all(f'href="{link}"' in text for link in links[-20:])
    assert all(f'href="{link}"' not in text for link in links[:2])  # only the latest 20
    assert reverse("admin:webhooks_webhookevent_change", args=[foreign.pk]) not in text


def test_detail_page_has_no_save_buttons_because_nothing_is_edited_there(admin_client, account):
    text = admin_client.get(change_url(account)).text
    assert 'name="_save"' not in text and 'name="_continue"' not in text


# --- actions ---------------------------------------------------------------------------------------


def test_clear_flag_asks_for_confirmation_first_and_changes_nothing(admin_client, make_account):
    account = make_account(reauth_required=True, reauth_requested_at=timezone.now())
    response = post_action(admin_client, "clear_reauth_flag_action", [account])
    assert response.status_code == 200
    assert "for this account?" in response.text and account.mono_account_id in response.text
    assert "dangerous" in response.text  # the one action with a red button: it overrides Mono
    account.refresh_from_db()
    assert account.reauth_required is True
    assert not LogEntry.objects.exists()


def test_confirmation_counts_accounts_in_words_and_harmless_actions_get_a_neutral_button(admin_client, make_account):
    accounts = [make_account() for _ in range(3)]
    response = post_action(admin_client, "send_reauth_required", accounts)
    assert "for these 3 accounts?" in response.text
    assert "dangerous" not in response.text and "delete-confirmation" not in response.text


def test_clear_flag_refuses_an_empty_reason(admin_client, make_account):
    account = make_account(reauth_required=True, reauth_requested_at=timezone.now())
    response = post_action(admin_client, "clear_reauth_flag_action", [account], post="yes", reason="   ")
    assert response.status_code == 200  # the confirmation page again, with the error
    assert "Give a reason: it is kept in the admin log" in response.text  # the server's words
    assert '<form method="post" novalidate>' in response.text  # not the browser's bubble instead
    account.refresh_from_db()
    assert account.reauth_required is True
    assert not LogEntry.objects.exists()


def test_clear_flag_with_a_reason_clears_through_the_rule_and_logs_the_reason(admin_client, make_account):
    account = make_account(
        reauth_required=True,
        reauth_requested_at=timezone.now(),
        reauth_token_fingerprint=credentials.token_fingerprint(TOKEN),
        reauth_token_issued_at=timezone.now(),
    )
    ok = make_account()
    response = post_action(
        admin_client, "clear_reauth_flag_action", [account, ok], post="yes", reason="Bank confirmed by phone"
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.reauth_required is False and account.reauth_token_fingerprint is None
    shown = [str(m) for m in admin_client.get(LIST_URL).context["messages"]]
    assert shown == ["Cleared the flag on 1 account; 1 other was not flagged."]
    entries = {e.object_id: e.change_message for e in LogEntry.objects.all()}
    assert entries == {str(account.pk): "Cleared the re-auth flag. Reason: Bank confirmed by phone"}


def test_clear_flag_is_not_offered_for_accounts_that_are_not_flagged(admin_client, make_account):
    ok, unlinked = make_account(), make_account(reauth_required=True, unlinked_at=timezone.now())
    response = post_action(admin_client, "clear_reauth_flag_action", [ok, unlinked])
    assert response.status_code == 302  # no confirmation page for nothing to do
    shown = [str(m) for m in admin_client.get(LIST_URL).context["messages"]]
    assert shown == ["None of the selected accounts is flagged: no flag to clear."]


def test_clear_flag_confirmation_lists_only_the_flagged_accounts(admin_client, make_account):
    flagged = make_account(reauth_required=True, reauth_requested_at=timezone.now())
    ok = make_account()
    response = post_action(admin_client, "clear_reauth_flag_action", [flagged, ok])
    assert "for this account?" in response.text and flagged.mono_account_id in response.text
    assert ok.mono_account_id not in response.text
    assert "1 other selected account is not flagged: it stays as it is." in response.text
    assert f'value="{ok.pk}"' not in response.text  # confirming acts on the flagged one only


def test_refresh_details_action_queues_one_refresh_per_account_and_says_so_once(
    admin_client, make_account, django_capture_on_commit_callbacks
):
    accounts = [make_account() for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = post_action(admin_client, "refresh_details_action", accounts)
    assert len(queued) == 3
    assert response.status_code == 302  # no confirmation page: a refresh changes nothing staff set
    shown = [str(m) for m in admin_client.get(LIST_URL).context["messages"]]
    assert shown == ["Queued a refresh for 3 accounts."]
    # The test settings run a queued task right after commit: the sandbox's details are stored.
    for account in accounts:
        account.refresh_from_db()
        assert account.data_status == "AVAILABLE" and account.currency == "NGN"
    assert LogEntry.objects.count() == 3


def test_actions_refuse_more_than_the_limit_at_once(admin_client, make_account):
    accounts = [make_account(reauth_required=True, reauth_requested_at=timezone.now()) for _ in range(101)]
    response = post_action(admin_client, "refresh_details_action", accounts)
    assert response.status_code == 302
    assert not LogEntry.objects.exists()
    assert "at most 100" in str(next(iter(admin_client.get(LIST_URL).context["messages"])))


def test_send_reauthorisation_required_is_offered_only_in_sandbox_mode(admin_client, account, settings):
    settings.MONO_SANDBOX = True
    choices = dict(admin_client.get(LIST_URL).context["action_form"].fields["action"].choices)
    assert "send_reauth_required" in choices
    settings.MONO_SANDBOX = False
    choices = dict(admin_client.get(LIST_URL).context["action_form"].fields["action"].choices)
    assert "send_reauth_required" not in choices
    post_action(admin_client, "send_reauth_required", [account], post="yes")
    account.refresh_from_db()
    assert account.reauth_required is False
    assert not WebhookEvent.objects.exists()


# --- fast at scale -----------------------------------------------------------------------------


def _render_and_count(client, url, capture):
    with capture() as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", [f"{LIST_URL}?reauth_state=flagged", LIST_URL])
def test_accounts_list_query_count_does_not_grow_with_rows(
    admin_client, make_account, django_assert_max_num_queries, url
):
    def add(n):
        for i in range(n):
            owner = User.objects.create_user(f"owner{LinkedAccount.objects.count()}-{i}")
            acc = make_account(user=owner, reauth_required=True, reauth_requested_at=timezone.now())
            make_delivery(acc.mono_account_id)

    add(3)
    admin_client.get(url)  # warm the institution filter's cache
    small = _render_and_count(admin_client, url, lambda: django_assert_max_num_queries(10))
    add(27)
    large = _render_and_count(admin_client, url, lambda: django_assert_max_num_queries(10))
    assert small == large


def test_capped_count_says_more_than_and_still_pages(admin_client, make_account, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 5)
    for _ in range(7):
        make_account()
    response = admin_client.get(LIST_URL + "?unlinked=no")
    assert response.context["cl"].result_count == 5
    assert "more than 5 linked accounts" in " ".join(response.text.split())


@pytest.mark.postgres
def test_unfiltered_list_on_postgresql_uses_the_planner_estimate_not_count_star(
    admin_client, make_account, monkeypatch, django_assert_max_num_queries
):
    from django.db import connection

    monkeypatch.setattr(EstimatedCountPaginator, "cap", 5)
    for _ in range(8):
        make_account()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_linkedaccount")
    with django_assert_max_num_queries(10) as ctx:
        response = admin_client.get(LIST_URL)
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert all(
        "accounts_linkedaccount" not in sql or "LIMIT" in sql.upper() or "reauth_required" in sql for sql in counts
    )
    assert any("pg_class" in q["sql"] for q in ctx.captured_queries)
    assert "about 8 linked accounts" in " ".join(response.text.split())
