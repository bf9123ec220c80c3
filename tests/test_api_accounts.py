"""The app's reads: the accounts list, one account, the launch summary and the polled re-auth state
(ETag → 304). The same states as the web pages (reauth.cards), another user's account is a 404,
and the query counts are bounded (bench/api_accounts.py prints the latencies)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reauth import state
from tests.test_api_auth import assert_problem

ACCOUNTS = "/api/v1/accounts/"


def test_the_list_shows_each_account_with_its_state_and_data_age(api, make_account):
    as_of = timezone.now() - timedelta(hours=2)
    ok = make_account(institution_name="Access Bank", details_as_of=as_of, data_status="AVAILABLE", balance=120_00)
    flagged = make_account(institution_name="GTBank", reauth_required=True, reauth_requested_at=timezone.now())
    waiting = make_account(institution_name="Kuda", reauth_required=True, reauth_submitted_at=timezone.now())
    back = make_account(institution_name="Zenith", reauth_completed_at=timezone.now() - timedelta(days=1))

    body = {row["id"]: row for row in api.get(ACCOUNTS).json()}

    assert body[ok.pk]["state"] == "ok" and body[ok.pk]["message"] == ""
    assert body[ok.pk]["number"] == ok.account_number_masked
    assert (body[ok.pk]["data_status"], body[ok.pk]["balance"]) == ("AVAILABLE", 12000)
    assert 7190 <= body[ok.pk]["data_age_seconds"] <= 7300
    assert body[flagged.pk]["state"] == "needs_reauth"
    assert body[flagged.pk]["message"].startswith("Your bank asked you to sign in again on ")
    assert body[waiting.pk]["state"] == "awaiting"
    assert body[back.pk]["state"] == "reconnected"
    assert body[back.pk]["data_age_seconds"] is None  # no data from Mono yet


def test_a_reconnection_older_than_the_notice_window_reads_ok(api, make_account):
    make_account(reauth_completed_at=timezone.now() - timedelta(days=8))

    assert api.get(ACCOUNTS).json()[0]["state"] == "ok"


def test_an_account_flagged_long_ago_and_submitted_past_the_grace_period_needs_the_user_again(
    api, make_account, settings
):
    submitted = timezone.now() - settings.REAUTH_GRACE_PERIOD - timedelta(seconds=1)
    account = make_account(reauth_required=True, reauth_submitted_at=submitted)

    assert api.get(f"{ACCOUNTS}{account.pk}/").json()["state"] == "needs_reauth"


def test_only_the_users_own_accounts_and_another_users_account_is_404(api, make_account, other_user):
    mine = make_account()
    theirs = make_account(user=other_user, reauth_required=True)

    assert [row["id"] for row in api.get(ACCOUNTS).json()] == [mine.pk]
    for path in ("", "reauth/"):
        assert_problem(api.get(f"{ACCOUNTS}{theirs.pk}/{path}"), 404)
    for path in ("reauth/credential/", "reauth/complete/", "reauth/hosted/"):
        assert_problem(api.post(f"{ACCOUNTS}{theirs.pk}/{path}", {}, "application/json"), 404)
    theirs.refresh_from_db()
    assert theirs.reauth_submitted_at is None


@pytest.mark.parametrize("count", [3, 30])
def test_the_list_costs_at_most_three_queries_authentication_included(
    api, make_account, count, django_assert_max_num_queries
):
    for n in range(count):
        make_account(reauth_required=n % 2 == 0)

    with django_assert_max_num_queries(3):
        response = api.get(ACCOUNTS)

    assert len(response.json()) == count


def test_the_summary_says_what_needs_the_user_now(api, make_account, django_assert_max_num_queries):
    needs = make_account(reauth_required=True)
    waiting = make_account(reauth_required=True, reauth_submitted_at=timezone.now())
    back = make_account(reauth_completed_at=timezone.now())
    make_account()
    make_account(reauth_required=True, unlinked_at=timezone.now())  # unlinked: never asked for

    with django_assert_max_num_queries(2):
        body = api.get("/api/v1/summary/").json()

    assert [a["id"] for a in body["needs_reauth"]] == [needs.pk]
    assert [a["id"] for a in body["awaiting"]] == [waiting.pk]
    assert [a["id"] for a in body["reconnected"]] == [back.pk]


def test_polling_with_the_etag_answers_304_until_the_state_changes(api, account, django_assert_max_num_queries):
    state.flag_for_reauth(mono_account_id=account.mono_account_id)
    url = f"{ACCOUNTS}{account.pk}/reauth/"
    first = api.get(url)
    etag = first["ETag"]
    assert first.json()["state"] == "needs_reauth"

    with django_assert_max_num_queries(2):  # the token with its user, then the account
        unchanged = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    state.mark_reauthorised(mono_account_id=account.mono_account_id)
    changed = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["state"] == "reconnected"
    assert changed["ETag"] != etag


def test_the_etag_changes_when_the_grace_period_runs_out(api, make_account, settings):
    account = make_account(reauth_required=True, reauth_submitted_at=timezone.now())
    url = f"{ACCOUNTS}{account.pk}/reauth/"
    etag = api.get(url)["ETag"]

    settings.REAUTH_GRACE_PERIOD = timedelta(0)

    answer = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 200
    assert answer.json()["state"] == "needs_reauth"


def test_account_data_is_never_stored_by_a_cache(api, account):
    assert "no-store" in api.get(ACCOUNTS)["Cache-Control"]
