"""Re-auth from the app: the SDK's credential (account id, or a token minted within the deadline),
the SDK's success with or without a code, Mono's hosted page with the return into the app through an
allow-listed deep link, Mono failing, and the per-user throttle on the endpoints that call Mono."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.core.cache import caches
from django.utils import timezone

from accounts.models import LinkedAccount
from reauth import state
from tests.test_api_auth import assert_problem

API = "https://api.withmono.com"  # tests/conftest.py real_mono
SITE = "https://app.example.test"
TOKEN = "tok_sdk_0123456789abcdef"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE


def url(account, step: str) -> str:
    return f"/api/v1/accounts/{account.pk}/reauth/{step}/"


def post(api, account, step: str, body=None):
    return api.post(url(account, step), body if body is not None else {}, "application/json")


def test_account_mode_answers_what_sdks_from_2_1_need_without_calling_mono(api, make_account, real_mono, settings):
    settings.MONO_PUBLIC_KEY = "test_pk_app"
    account = make_account(reauth_required=True)

    response = post(api, account, "credential")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "mode": "account",
        "public_key": "test_pk_app",
        "scope": "reauth",
        "account_id": account.mono_account_id,
    }  # no customer id: monolink has none to give, so the key is left out, never empty
    assert len(real_mono.calls) == 0


def test_token_mode_mints_a_token_now_and_keeps_only_its_fingerprint(api, make_account, real_mono, settings, caplog):
    settings.MONO_REAUTH_MODE = "token"
    account = make_account(reauth_required=True)
    real_mono.post(f"{API}/accounts/{account.mono_account_id}/reauthorise", json={"token": TOKEN})
    caplog.set_level(logging.DEBUG)

    response = post(api, account, "credential")

    body = response.json()
    assert (body["mode"], body["token"], body["scope"]) == ("token", TOKEN, "reauth")
    assert "account_id" not in body
    lifetime = timezone.datetime.fromisoformat(body["expires_at"]) - timezone.now()
    assert 9 * 60 < lifetime.total_seconds() <= 10 * 60
    assert "no-store" in response["Cache-Control"]
    account.refresh_from_db()
    assert account.reauth_token_fingerprint.startswith("sha256:")
    assert TOKEN not in json.dumps(list(LinkedAccount.objects.values()), default=str)
    assert TOKEN not in caplog.text


def test_token_mode_with_mono_hanging_answers_a_503_within_the_deadline(api, make_account, settings, hanging_mono):
    settings.MONO_REAUTH_MODE = "token"
    settings.MONO_CLIENT = "monolink.mono.client.MonoClient"
    settings.MONO_SECRET_KEY = "test_sk_api"
    settings.MONO_API_BASE_URL = hanging_mono.url
    settings.MONO_REQUEST_DEADLINE = 1.0
    account = make_account(reauth_required=True)

    started = time.monotonic()
    response = post(api, account, "credential")

    assert time.monotonic() - started < settings.MONO_REQUEST_DEADLINE + 1
    body = assert_problem(response, 503)
    assert "try again" in body["detail"]
    account.refresh_from_db()
    assert account.reauth_token_fingerprint is None


@pytest.mark.parametrize(("mono_status", "api_status"), [(401, 502), (404, 502), (500, 503), (429, 503)])
def test_mono_refusing_or_failing_is_a_readable_5xx_and_changes_nothing(
    api, make_account, real_mono, settings, mono_status, api_status
):
    settings.MONO_REAUTH_MODE = "token"
    account = make_account(reauth_required=True)
    real_mono.post(f"{API}/accounts/{account.mono_account_id}/reauthorise", status=mono_status, json={"message": "x"})

    body = assert_problem(post(api, account, "credential"), api_status)

    assert body["type"].startswith("urn:monolink:problem:mono-")
    account.refresh_from_db()
    assert (account.reauth_required, account.reauth_token_fingerprint) == (True, None)


def test_a_credential_for_an_account_no_longer_flagged_is_a_409_with_its_state(api, account):
    body = assert_problem(post(api, account, "credential"), 409)

    assert body["state"] == "ok"
    assert body["type"] == "urn:monolink:problem:not-flagged"


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": "code_abc.123"}])
def test_the_sdks_success_with_or_without_a_code_waits_for_mono(api, make_account, body):
    account = make_account(reauth_required=True)

    response = post(api, account, "complete", body)

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "awaiting"
    account.refresh_from_db()
    assert account.reauth_submitted_at is not None and account.reauth_required


@pytest.mark.parametrize("body", [{"code": "<script>"}, {"code": 12}, {"code": "x" * 513}, "[1]"])
def test_a_malformed_code_is_a_400_and_changes_nothing(api, make_account, body):
    account = make_account(reauth_required=True)

    problem = assert_problem(post(api, account, "complete", body), 400)

    assert problem["detail"].startswith("Invalid request")
    account.refresh_from_db()
    assert account.reauth_submitted_at is None


def test_mono_confirming_before_the_app_reports_is_success(api, make_account):
    account = make_account(reauth_required=True)
    state.mark_reauthorised(mono_account_id=account.mono_account_id)

    response = post(api, account, "complete")

    assert response.json()["state"] == "reconnected"


def test_an_unlinked_account_cannot_be_completed(api, make_account):
    account = make_account(reauth_required=True, unlinked_at=timezone.now())

    assert_problem(post(api, account, "complete"), 404)


def test_the_app_and_the_web_page_agree_on_the_state(api, signed_in, make_account):
    account = make_account(reauth_required=True)
    post(api, account, "complete")

    page = signed_in.get(f"/reconnect/status/?account={account.pk}").json()["accounts"][0]
    app = api.get(f"/api/v1/accounts/{account.pk}/reauth/").json()
    assert (page["state"], page["badge"], page["text"]) == (app["state"], app["badge"], app["message"])


# --- Mono's hosted page and the way back into the app ---------------------------------------------
@pytest.fixture
def deep_links(settings):
    settings.MOBILE_DEEP_LINKS = ["myapp://mono-return", "https://app.example.com/mono?from=web"]
    return settings.MOBILE_DEEP_LINKS


def test_hosted_asks_mono_with_our_own_return_page_and_answers_its_url(api, make_account, real_mono, deep_links):
    account = make_account(reauth_required=True)
    initiate = real_mono.post(f"{API}/v2/accounts/initiate", json={"data": {"mono_url": "https://link.mono.co/r1"}})

    response = post(api, account, "hosted", {"return_to": deep_links[1]})

    assert response.json() == {"url": "https://link.mono.co/r1", "return_to": deep_links[1]}
    sent = json.loads(initiate.calls[0].request.body)
    assert sent["redirect_url"] == f"{SITE}/api/v1/reauth/returned/{account.pk}/1/"
    assert (sent["scope"], sent["account"]) == ("reauth", account.mono_account_id)


def test_the_return_page_sends_the_browser_to_the_allow_listed_app_link(client, make_account, deep_links):
    account = make_account(reauth_required=True)

    first = client.get(f"/api/v1/reauth/returned/{account.pk}/0/?next=https://evil.example")
    second = client.get(f"/api/v1/reauth/returned/{account.pk}/1/")

    assert first.status_code == second.status_code == 302
    assert first["Location"] == f"myapp://mono-return?account={account.pk}&status=returned"
    assert second["Location"] == f"https://app.example.com/mono?from=web&account={account.pk}&status=returned"
    assert_problem(client.get(f"/api/v1/reauth/returned/{account.pk}/2/"), 404)


def test_a_return_link_not_in_the_allow_list_is_a_400_and_mono_is_not_called(api, make_account, real_mono, deep_links):
    account = make_account(reauth_required=True)

    body = assert_problem(post(api, account, "hosted", {"return_to": "https://evil.example/"}), 400)

    assert "MOBILE_DEEP_LINKS" in body["detail"]
    assert len(real_mono.calls) == 0


def test_without_app_links_there_is_no_hosted_reauth_from_the_app(api, make_account, real_mono, settings):
    settings.MOBILE_DEEP_LINKS = []
    account = make_account(reauth_required=True)

    assert_problem(post(api, account, "hosted"), 404)
    assert len(real_mono.calls) == 0


# --- the throttle on the endpoints that call Mono -----------------------------------------------
def test_each_user_gets_the_rate_on_the_endpoints_that_call_mono_counted_in_the_database(
    api, make_account, client, other_user, settings
):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "mono": "2/hour"}
    account = make_account(reauth_required=True)
    theirs = make_account(user=other_user, reauth_required=True)

    assert [post(api, account, "credential").status_code for _ in range(2)] == [200, 200]
    refused = post(api, account, "credential")

    body = assert_problem(refused, 429)
    assert "throttled" in body["detail"] and int(refused["Retry-After"]) > 0
    assert caches["api_throttle"].get(f"throttle_mono_{account.user_id}") is not None  # in the shared table
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM api_throttle_cache")
        assert cursor.fetchone()[0] >= 1
    other = client.post(
        "/api/v1/auth/sign-in/", {"username": "bola", "password": "pw-bola-12345"}, "application/json"
    ).json()["token"]
    answer = client.post(url(theirs, "credential"), {}, "application/json", HTTP_AUTHORIZATION=f"Bearer {other}")
    assert answer.status_code == 200  # another user's count is their own
