"""Per-user limits on the clicks that call Mono (issue 22, item 10): 30 Reconnect clicks in 0.9 s made
30 calls to Mono, 20 link posts made 20 code exchanges. Mono is `responses` (its HTTP only); each test
counts what Mono saw. The concurrent test races real threads against PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkAttempt, MonoActionWindow
from accounts.throttles import RECONNECT, allow_mono_action
from tests.concurrency.test_webhook_races import race

API = "https://api.withmono.com"  # tests/conftest.py real_mono
CLICKS = 30


@pytest.fixture
def limits(settings):
    """The production limits, read here so a test says what it expects in their terms."""
    return settings.MONO_ACTION_LIMITS


@pytest.fixture
def token_mode(settings, real_mono, make_account):
    """A flagged account in token mode: every Reconnect click asks Mono for a token."""
    settings.MONO_REAUTH_MODE = "token"
    account = make_account(reauth_required=True)
    mint = real_mono.post(f"{API}/accounts/{account.mono_account_id}/reauthorise", json={"token": "tok_0123456789ab"})
    return account, mint


def click(client: Client, account):
    return client.post(reverse("web:reauth_credential", args=[account.pk]))


def window_ends_now():
    """Time passes: the current windows started a minute ago (the limiter reads the database's rows)."""
    MonoActionWindow.objects.update(window_started_at=timezone.now() - timedelta(seconds=61))


def test_thirty_reconnect_clicks_make_only_the_allowed_calls_to_mono(signed_in, token_mode, limits):
    account, mint = token_mode
    allowed = limits[RECONNECT]["calls"]

    answers = [click(signed_in, account) for _ in range(CLICKS)]
    thirty_first = click(signed_in, account)

    assert [a.status_code for a in answers] == [200] * allowed + [429] * (CLICKS - allowed)
    assert thirty_first.status_code == 429
    assert len(mint.calls) == allowed
    body = thirty_first.json()
    assert body["status"] == "error" and "Too many tries" in body["message"] and "seconds" in body["message"]
    assert 1 <= int(thirty_first["Retry-After"]) <= limits[RECONNECT]["per_seconds"]


def test_the_limit_is_per_account_and_lifts_when_the_window_ends(
    signed_in, token_mode, make_account, real_mono, limits
):
    account, _mint = token_mode
    answers = [click(signed_in, account).status_code for _ in range(limits[RECONNECT]["calls"] + 1)]
    assert answers[-1] == 429
    other = make_account(reauth_required=True)
    real_mono.post(f"{API}/accounts/{other.mono_account_id}/reauthorise", json={"token": "tok_other_0123456789"})

    assert click(signed_in, other).status_code == 200  # another account is not held back
    window_ends_now()
    assert click(signed_in, account).status_code == 200


def test_mono_hosted_page_shares_the_accounts_limit_and_answers_a_readable_429(
    signed_in, token_mode, real_mono, limits, settings
):
    settings.SITE_URL = "https://app.example.test"
    account, mint = token_mode
    initiate = real_mono.post(f"{API}/v2/accounts/initiate", json={"data": {"mono_url": "https://link.mono.co/r1"}})
    allowed = limits[RECONNECT]["calls"]
    hosted = reverse("web:reauth_hosted", args=[account.pk])

    first_clicks = [click(signed_in, account).status_code for _ in range(allowed - 1)]
    last_allowed = signed_in.post(hosted, {"next": "/"})
    refused = [signed_in.post(hosted, {"next": "/"}) for _ in range(CLICKS)]

    assert first_clicks == [200] * (allowed - 1)
    assert last_allowed.status_code == 302 and last_allowed["Location"] == "https://link.mono.co/r1"
    assert {r.status_code for r in refused} == {429}
    assert len(mint.calls) + len(initiate.calls) == allowed
    page = refused[-1]
    assert "Too many tries" in page.text and "Reconnect" in page.text  # the re-auth page, with the message
    assert int(page["Retry-After"]) >= 1


def test_account_mode_clicks_call_no_mono_and_are_not_limited(signed_in, make_account, settings, real_mono):
    settings.MONO_REAUTH_MODE = "account"
    account = make_account(reauth_required=True)

    assert {click(signed_in, account).status_code for _ in range(CLICKS)} == {200}
    assert len(real_mono.calls) == 0


@pytest.fixture
def exchange(real_mono):
    """Mono takes any code (for one account) and answers its details."""
    account_id = "65f0c0ffee00000000000a01"
    taken = real_mono.post(f"{API}/v2/accounts/auth", json={"status": "successful", "data": {"id": account_id}})
    real_mono.get(f"{API}/v2/accounts/{account_id}", status=503, json={"message": "later"})
    return taken


def post_link(client: Client, code: str):
    return client.post(reverse("web:link_complete"), {"code": code, "institution": "GTBank"}, "application/json")


def test_twenty_link_posts_make_only_the_allowed_code_exchanges(signed_in, exchange, limits):
    allowed = limits["link"]["calls"]

    answers = [post_link(signed_in, f"code_{n:02d}") for n in range(20)]

    assert [a.status_code for a in answers] == [200] * allowed + [429] * (20 - allowed)
    assert len(exchange.calls) == allowed
    assert LinkAttempt.objects.count() == allowed  # a refused post records nothing
    assert "Too many tries" in answers[-1].json()["message"] and int(answers[-1]["Retry-After"]) >= 1
    # A code already recorded still answers from its record: a retried fetch is not a new call to Mono.
    assert post_link(signed_in, "code_00").status_code == 200
    assert len(exchange.calls) == allowed


def test_the_link_limit_is_per_user(signed_in, other_user, exchange, limits):
    for n in range(limits["link"]["calls"] + 1):
        post_link(signed_in, f"ada_{n}")
    bola = Client()
    bola.force_login(other_user)

    assert post_link(bola, "bola_0").status_code in {200, 409}  # Mono was asked: not held back by Ada's limit
    assert len(exchange.calls) == limits["link"]["calls"] + 1


def test_allow_mono_action_counts_and_says_how_long_to_wait(user, limits):
    allowed = limits[RECONNECT]["calls"]

    answers = [allow_mono_action(user, RECONNECT, 7) for _ in range(allowed + 1)]

    assert answers[:allowed] == [None] * allowed
    assert 59 <= answers[-1] <= 60
    assert MonoActionWindow.objects.get().count == allowed  # the refused one was not counted


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_thirty_clicks_at_the_same_instant_make_only_the_allowed_calls(user, token_mode, limits):
    account, mint = token_mode

    def reconnect():
        client = Client()
        client.force_login(user)
        return click(client, account).status_code

    statuses = race([reconnect for _ in range(CLICKS)])

    allowed = limits[RECONNECT]["calls"]
    assert sorted(statuses) == [200] * allowed + [429] * (CLICKS - allowed)
    assert len(mint.calls) == allowed
