"""The re-auth page and its small endpoints: the page never calls Mono; the token is minted at the
click; a status endpoint the page polls; "Reconnect on Mono's page" (Mono's hosted re-auth); no
usable token at rest."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount
from reauth import credentials, state

API = "https://api.withmono.com"  # tests/conftest.py real_mono
REAUTH = "/reconnect/"
SITE = "https://app.example.test"


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE  # Mono's redirect_url is built from it


@pytest.fixture
def slow_mono(settings, hanging_mono):
    """The real client against a Mono that accepts connections and never answers; a 1 s deadline."""
    settings.MONO_CLIENT = "monolink.mono.client.MonoClient"
    settings.MONO_SECRET_KEY = "test_sk_page"
    settings.MONO_API_BASE_URL = hanging_mono.url
    settings.MONO_REQUEST_DEADLINE = 1.0
    settings.MONO_MAX_RETRIES = 3
    return hanging_mono


def credential_url(account) -> str:
    return reverse("web:reauth_credential", args=[account.pk])


def hosted_url(account) -> str:
    return reverse("web:reauth_hosted", args=[account.pk])


def reauthorise_url(account) -> str:
    return f"{API}/accounts/{account.mono_account_id}/reauthorise"


# --- the page never calls Mono ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["token", "account"])
def test_page_renders_without_calling_mono(signed_in, make_account, settings, real_mono, mode):
    settings.MONO_REAUTH_MODE = mode
    account = make_account(reauth_required=True)
    response = signed_in.get(REAUTH)
    assert response.status_code == 200
    assert len(real_mono.calls) == 0
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    if mode == "account":
        assert f'data-credential="{account.mono_account_id}"' in body
    else:
        assert f'data-credential-url="{credential_url(account)}"' in body
        assert "data-credential=" not in body


def test_page_answers_at_once_with_mono_hanging(signed_in, make_account, settings, slow_mono):
    settings.MONO_REAUTH_MODE = "token"
    for _ in range(3):
        make_account(reauth_required=True)
    started = time.monotonic()
    response = signed_in.get(REAUTH)
    assert response.status_code == 200
    assert time.monotonic() - started < settings.MONO_REQUEST_DEADLINE  # three flagged accounts, no wait on Mono
    assert slow_mono.accepted == []


def test_page_states_each_card_and_says_why_and_how_long(signed_in, make_account):
    make_account(reauth_required=True, institution_name="United Bank for Africa")
    make_account(reauth_required=True, institution_name="GTBank", reauth_submitted_at=timezone.now())
    body = signed_in.get(REAUTH + "?next=/x/").content.decode()
    assert 'data-state="needs_reauth"' in body and 'data-state="awaiting"' in body
    assert "Waiting for your bank&#x27;s confirmation…" in body
    assert ">UBA</span>" in body and ">GTB</span>" in body  # the bank marks
    assert "we never see it or store it" in body  # the password goes to the bank, never to us
    assert "About a minute" in body
    assert 'href="/x/" data-testid="not-now">Not now</a>' in body


def test_page_with_nothing_left_says_so_and_offers_continue(signed_in, make_account):
    make_account(reauth_required=False)
    body = signed_in.get(REAUTH + "?next=/x/").content.decode()
    assert "Your bank connections are working" in body
    assert "asking you to sign in again" not in body
    assert 'href="/x/" data-testid="not-now">Continue</a>' in body
    assert "connect-widget.js" not in body  # nothing to reconnect, no widget


def test_only_awaiting_accounts_left_turns_not_now_into_continue(signed_in, make_account):
    make_account(reauth_required=True, reauth_submitted_at=timezone.now())
    body = signed_in.get(REAUTH).content.decode()
    assert 'data-testid="not-now">Continue</a>' in body
    assert "Almost done" in body and "Why now?" not in body


# --- the credential, at the click ----------------------------------------------------------------


def test_account_mode_click_answers_the_account_id_without_calling_mono(signed_in, make_account, settings, real_mono):
    settings.MONO_REAUTH_MODE = "account"
    account = make_account(reauth_required=True)
    response = signed_in.post(credential_url(account))
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "credential": account.mono_account_id}
    assert len(real_mono.calls) == 0


def test_token_mode_click_mints_a_token_each_time_and_keeps_only_its_fingerprint(
    signed_in, make_account, settings, real_mono
):
    settings.MONO_REAUTH_MODE = "token"
    account = make_account(reauth_required=True)
    real_mono.post(reauthorise_url(account), json={"token": "tok_first_0123456789abcdef"})
    real_mono.post(reauthorise_url(account), json={"token": "tok_second_0123456789abcdef"})

    first = signed_in.post(credential_url(account))
    assert first.status_code == 200
    assert first.json()["credential"] == "tok_first_0123456789abcdef"
    assert "no-store" in first["Cache-Control"]
    second = signed_in.post(credential_url(account))  # "Try again" mints again: a token lives 10 minutes
    assert second.json()["credential"] == "tok_second_0123456789abcdef"
    assert len(real_mono.calls) == 2

    account.refresh_from_db()
    assert account.reauth_token_fingerprint == credentials.token_fingerprint("tok_second_0123456789abcdef")
    assert "tok_second" not in account.reauth_token_fingerprint
    assert account.reauth_token_issued_at is not None


def test_a_page_left_open_for_an_hour_still_mints_on_click(signed_in, make_account, settings, real_mono):
    settings.MONO_REAUTH_MODE = "token"
    account = make_account(reauth_required=True)
    signed_in.get(REAUTH)
    # Stored state from an hour ago (an old token's fingerprint) changes nothing: the click mints afresh.
    LinkedAccount.objects.filter(pk=account.pk).update(
        reauth_token_fingerprint=credentials.token_fingerprint("old"),
        reauth_token_issued_at=timezone.now() - timedelta(hours=1),
    )
    real_mono.post(reauthorise_url(account), json={"token": "tok_fresh_0123456789abcdef"})
    assert signed_in.post(credential_url(account)).json()["credential"] == "tok_fresh_0123456789abcdef"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, {"message": "boom"}, "couldn't reach your bank"),
        (400, {"message": "This account can not be re-authorised."}, "can't be reconnected"),
        (401, {"message": "Invalid secret key"}, "temporarily unavailable"),
    ],
)
def test_mono_failing_the_mint_is_a_readable_502_and_stores_nothing(
    signed_in, make_account, settings, real_mono, status, body, message
):
    settings.MONO_REAUTH_MODE = "token"
    account = make_account(reauth_required=True)
    real_mono.post(reauthorise_url(account), status=status, json=body)
    response = signed_in.post(credential_url(account))
    assert response.status_code == 502
    assert message in response.json()["message"]
    assert settings.MONO_SECRET_KEY not in response.content.decode()
    account.refresh_from_db()
    assert account.reauth_token_fingerprint is None


def test_click_with_mono_hanging_answers_within_the_deadline_with_the_readable_message(
    signed_in, make_account, settings, slow_mono
):
    settings.MONO_REAUTH_MODE = "token"
    account = make_account(reauth_required=True)
    started = time.monotonic()
    response = signed_in.post(credential_url(account))
    elapsed = time.monotonic() - started
    assert response.status_code == 502
    assert elapsed < settings.MONO_REQUEST_DEADLINE + 1
    assert response.json()["message"].startswith("We couldn't reach")
    assert slow_mono.accepted  # it really asked the hanging socket


def test_click_for_another_users_account_is_404_and_mints_nothing(signed_in, make_account, other_user, real_mono):
    theirs = make_account(user=other_user, reauth_required=True)
    response = signed_in.post(credential_url(theirs))
    assert response.status_code == 404
    assert theirs.mono_account_id not in response.content.decode()
    assert len(real_mono.calls) == 0


def test_click_after_mono_confirmed_says_so_with_409(signed_in, make_account, real_mono):
    account = make_account(reauth_required=False, institution_name="Kuda Bank")
    response = signed_in.post(credential_url(account))
    assert response.status_code == 409
    assert response.json() == {"status": "ok", "message": "Kuda Bank reconnected. Fresh data is on its way."}
    assert len(real_mono.calls) == 0


def test_click_needs_csrf_and_post(user, make_account):
    account = make_account(reauth_required=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(credential_url(account)).status_code == 403
    assert client.get(credential_url(account)).status_code == 405
    client.get(REAUTH)
    ok = client.post(credential_url(account), headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    assert ok.status_code == 200


def test_click_requires_sign_in(client, account):
    response = client.post(credential_url(account))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- the status the page polls ---------------------------------------------------------------------


def test_status_reports_each_of_the_users_accounts_and_nothing_of_others(signed_in, make_account, other_user):
    waiting = make_account(reauth_required=True, reauth_submitted_at=timezone.now(), institution_name="GTBank")
    done = make_account(reauth_required=False, institution_name="Access Bank")
    theirs = make_account(user=other_user, reauth_required=True)
    url = reverse("web:reauth_status")
    response = signed_in.get(url, {"account": [waiting.pk, done.pk, theirs.pk, "x", "9" * 40]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    by_id = {item["id"]: item for item in response.json()["accounts"]}
    assert set(by_id) == {waiting.pk, done.pk}
    assert by_id[waiting.pk]["state"] == "awaiting"
    assert by_id[done.pk] == {
        "id": done.pk,
        "bank": "Access Bank",
        "state": "ok",
        "badge": "Reconnected",
        "text": "Access Bank reconnected. Fresh data is on its way.",
    }
    assert response.json()["needs_user"] is False


def test_status_follows_the_webhook(signed_in, make_account):
    account = make_account(reauth_required=True, reauth_submitted_at=timezone.now())
    url = reverse("web:reauth_status") + f"?account={account.pk}"
    assert signed_in.get(url).json()["accounts"][0]["state"] == "awaiting"
    state.mark_reauthorised(mono_account_id=account.mono_account_id)
    assert signed_in.get(url).json()["accounts"][0]["state"] == "ok"


def test_completion_answers_the_cards_state_and_text(signed_in, make_account):
    account = make_account(reauth_required=True)
    url = reverse("web:reauth_complete", args=[account.pk])
    body = signed_in.post(url, {"code": "code_abc"}, content_type="application/json").json()
    assert body == {
        "status": "awaiting",
        "message": "Waiting for your bank's confirmation…",
        "badge": "Waiting for your bank",
    }


# --- "Reconnect on Mono's page" ----------------------------------------------------------------------


def test_hosted_reauth_asks_mono_with_a_fresh_ref_and_redirects_there(signed_in, make_account, real_mono):
    account = make_account(reauth_required=True)
    initiate = real_mono.post(f"{API}/v2/accounts/initiate", json={"data": {"mono_url": "https://link.mono.co/r1"}})

    first = signed_in.post(hosted_url(account), {"next": "/x/"})
    second = signed_in.post(hosted_url(account), {"next": "/x/"})

    assert first.status_code == 302 and first["Location"] == "https://link.mono.co/r1"
    assert "no-store" in first["Cache-Control"]
    assert second.status_code == 302
    sent = [json.loads(call.request.body) for call in initiate.calls]
    returned = SITE + reverse("web:reauth_returned", args=[account.pk])
    for payload in sent:
        assert {k: v for k, v in payload.items() if k != "meta"} == {
            "scope": "reauth",
            "account": account.mono_account_id,
            "redirect_url": returned,  # from SITE_URL, never from the request's Host header
        }
    assert sent[0]["meta"]["ref"] != sent[1]["meta"]["ref"]  # Mono refuses a reused ref
    account.refresh_from_db()
    assert account.reauth_token_fingerprint is None  # nothing about the link is stored


def test_hosted_reauth_uses_site_url_even_with_a_forged_host(signed_in, make_account, real_mono, settings):
    settings.ALLOWED_HOSTS = ["*"]
    account = make_account(reauth_required=True)
    initiate = real_mono.post(f"{API}/v2/accounts/initiate", json={"data": {"mono_url": "https://link.mono.co/r"}})
    signed_in.post(hosted_url(account), headers={"host": "attacker.example"})
    assert json.loads(initiate.calls[0].request.body)["redirect_url"].startswith(SITE + "/")


def test_hosted_reauth_failing_goes_back_to_the_page_with_the_readable_message(signed_in, make_account, real_mono):
    account = make_account(reauth_required=True)
    real_mono.post(f"{API}/v2/accounts/initiate", status=503, json={"message": "down"})
    response = signed_in.post(hosted_url(account), {"next": "/x/"}, follow=True)
    assert response.redirect_chain == [(REAUTH + "?next=%2Fx%2F", 302)]
    assert "couldn&#x27;t reach your bank" in response.content.decode()


def test_hosted_reauth_with_mono_hanging_answers_within_the_deadline(signed_in, make_account, settings, slow_mono):
    settings.MONO_API_VERSION = "v2"
    account = make_account(reauth_required=True)
    started = time.monotonic()
    response = signed_in.post(hosted_url(account))
    assert time.monotonic() - started < settings.MONO_REQUEST_DEADLINE + 1
    assert response.status_code == 302 and response["Location"].startswith(REAUTH)


def test_hosted_reauth_for_another_users_account_is_404(signed_in, make_account, other_user, real_mono):
    theirs = make_account(user=other_user, reauth_required=True)
    assert signed_in.post(hosted_url(theirs)).status_code == 404
    assert len(real_mono.calls) == 0


def test_hosted_reauth_needs_csrf(user, make_account, real_mono):
    account = make_account(reauth_required=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(hosted_url(account)).status_code == 403
    assert len(real_mono.calls) == 0


def test_v1_mode_hides_the_hosted_option_and_refuses_it(signed_in, make_account, settings, real_mono):
    settings.MONO_API_VERSION = "v1"
    account = make_account(reauth_required=True)
    body = signed_in.get(REAUTH).content.decode()
    assert "Mono&#x27;s page" not in body and hosted_url(account) not in body
    assert signed_in.post(hosted_url(account)).status_code == 404
    assert len(real_mono.calls) == 0


def test_v2_mode_offers_the_hosted_option_per_account_and_keeps_next(signed_in, make_account):
    account = make_account(reauth_required=True)
    body = signed_in.get(REAUTH + "?next=/x/").content.decode()
    assert f'action="{hosted_url(account)}"' in body
    assert 'name="next" value="/x/"' in body


def test_back_from_monos_page_shows_waiting_and_keeps_next(signed_in, make_account, real_mono):
    account = make_account(reauth_required=True, institution_name="Zenith Bank")
    real_mono.post(f"{API}/v2/accounts/initiate", json={"data": {"mono_url": "https://link.mono.co/r"}})
    signed_in.post(hosted_url(account), {"next": "/x/"})
    back = signed_in.get(reverse("web:reauth_returned", args=[account.pk]) + "?status=whatever")
    assert back.status_code == 200
    assert "no-store" in back["Cache-Control"]
    body = back.content.decode()
    assert 'data-state="awaiting"' in body and "Waiting for your bank&#x27;s confirmation…" in body
    assert 'href="/x/" data-testid="not-now">Continue</a>' in body
    state.mark_reauthorised(mono_account_id=account.mono_account_id)
    body = signed_in.get(reverse("web:reauth_returned", args=[account.pk])).content.decode()
    assert "Zenith Bank reconnected" in body and 'data-state="ok"' in body


def test_back_from_monos_page_for_another_users_account_is_404(signed_in, make_account, other_user):
    theirs = make_account(user=other_user, reauth_required=True)
    assert signed_in.get(reverse("web:reauth_returned", args=[theirs.pk])).status_code == 404


def test_reauth_page_allows_its_forms_to_lead_to_monos_hosted_page(signed_in, make_account, settings):
    settings.MONO_SANDBOX = False
    make_account(reauth_required=True)
    policy = signed_in.get(REAUTH)["Content-Security-Policy"]
    form_action = next(p for p in policy.split(";") if p.strip().startswith("form-action")).split()[1:]
    assert form_action == ["'self'", "https://*.mono.co"]


# --- no usable token at rest -------------------------------------------------------------------------


def test_store_reauth_token_keeps_a_fingerprint_that_is_not_the_token(make_account):
    account = make_account(reauth_required=True)
    token = "eyJhbGciOiJIUzI1NiJ9.live-token-0123456789"
    credentials.store_reauth_token(mono_account_id=account.mono_account_id, token=token, issued_at=timezone.now())
    account.refresh_from_db()
    assert account.reauth_token_fingerprint.startswith("sha256:") and len(account.reauth_token_fingerprint) == 23
    assert token not in account.reauth_token_fingerprint and token[:12] not in account.reauth_token_fingerprint
    assert credentials.token_fingerprint(token) == account.reauth_token_fingerprint


def test_admin_shows_the_fingerprint_and_when_it_was_minted_never_a_token(admin_client, make_account):
    account = make_account(reauth_required=True)
    token = "tok_admin_0123456789abcdef"  # as a Reconnect click would have minted it
    credentials.store_reauth_token(mono_account_id=account.mono_account_id, token=token, issued_at=timezone.now())
    page = admin_client.get(reverse("admin:accounts_linkedaccount_change", args=[account.pk])).content.decode()
    assert f"fingerprint {credentials.token_fingerprint('tok_admin_0123456789abcdef')}, minted " in page
    assert "tok_admin" not in page


@pytest.mark.django_db(transaction=True)
def test_migration_replaces_stored_tokens_with_their_fingerprints(user):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = ("accounts", "0006_metrics_reconnected_index")
    after = ("accounts", "0007_reauth_code_fingerprint_only")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old = MigrationExecutor(connection).loader.project_state([before]).apps.get_model("accounts", "LinkedAccount")
        token = "live-token-" + "x" * 100
        old.objects.create(user_id=user.pk, mono_account_id="a" * 24, reauth_code=token, reauth_required=True)
        old.objects.create(user_id=user.pk, mono_account_id="b" * 24, reauth_code=None)
        MigrationExecutor(connection).migrate([after])
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    stored = dict(LinkedAccount.objects.values_list("mono_account_id", "reauth_token_fingerprint"))
    assert stored == {"a" * 24: credentials.token_fingerprint(token), "b" * 24: None}
