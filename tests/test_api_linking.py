"""Linking a bank from the app: the SDK's code goes through linking.services.start_link (as on the
web): 201 once linked, 202 while Mono is slow (never a lost code), 409/422 for the failures."""

from __future__ import annotations

import time

import pytest

from accounts.models import LinkAttempt, LinkedAccount
from linking import tasks as linking_tasks
from tests.test_api_auth import assert_problem
from tests.test_link import STUB_ACCOUNT

LINKS = "/api/v1/links/"


def link(api, code="code_1", institution="Access Bank"):
    return api.post(LINKS, {"code": code, "institution": institution}, "application/json")


def test_the_code_is_exchanged_and_the_account_answered(api, user, stub_mono):
    response = link(api)

    assert response.status_code == 201, response.content
    body = response.json()
    account = LinkedAccount.objects.get(mono_account_id=STUB_ACCOUNT)
    assert (body["status"], body["account"], account.user) == ("linked", account.pk, user)
    assert api.get(f"/api/v1/accounts/{account.pk}/").json()["state"] == "ok"


def test_the_same_code_twice_links_once(api, stub_mono):
    first, second = link(api), link(api)

    assert first.json()["account"] == second.json()["account"]
    assert stub_mono.count("exchange") == 1


def test_mono_hanging_answers_202_and_the_kept_code_links_later(api, settings, hanging_mono, stub_mono):
    settings.MONO_API_BASE_URL = hanging_mono.url
    settings.MONO_REQUEST_DEADLINE = 1
    settings.MONO_TASK_DEADLINE = 0.3

    started = time.monotonic()
    response = link(api)

    assert response.status_code == 202, response.content
    assert time.monotonic() - started < settings.MONO_REQUEST_DEADLINE + 1
    body = response.json()
    assert (body["status"], body["message"]) == ("pending", "Linking Access Bank…")
    assert api.get(body["status_url"]).json()["status"] == "pending"

    settings.MONO_API_BASE_URL = stub_mono.url
    settings.MONO_TASK_DEADLINE = 5
    assert linking_tasks.exchange_link_code(attempt_id=body["attempt"]) == "linked"
    assert api.get(body["status_url"]).json()["status"] == "linked"


def test_mono_refusing_the_code_is_a_422_problem(api, stub_mono):
    stub_mono.plans["exchange"] = ["400"]

    body = assert_problem(link(api), 422)

    assert body["detail"].startswith("Couldn't link Access Bank.")


def test_an_account_of_another_user_is_a_409_and_stays_theirs(api, make_account, other_user, stub_mono):
    theirs = make_account(user=other_user, mono_account_id=STUB_ACCOUNT)

    assert_problem(link(api), 409)
    theirs.refresh_from_db()
    assert theirs.user == other_user


def test_a_code_another_user_posted_is_a_409(api, client, other_user, stub_mono):
    token = client.post(
        "/api/v1/auth/sign-in/", {"username": "bola", "password": "pw-bola-12345"}, "application/json"
    ).json()["token"]
    client.post(LINKS, {"code": "code_1"}, "application/json", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_problem(link(api), 409)
    assert LinkAttempt.objects.count() == 1


def test_another_users_attempt_is_404(api, other_user):
    attempt = LinkAttempt.objects.create(user=other_user, code_hash="x" * 64, status="pending")

    assert_problem(api.get(f"{LINKS}{attempt.pk}/"), 404)


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": "a b"}, {"code": 5}, {"code": "ok", "institution": 3}])
def test_bad_input_is_a_400_and_changes_nothing(api, stub_mono, body):
    assert_problem(api.post(LINKS, body, "application/json"), 400)
    assert not LinkAttempt.objects.exists()
    assert stub_mono.calls == []


def test_linking_is_throttled_per_user(api, settings, stub_mono):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "link": "1/hour"}

    assert link(api, code="code_a").status_code == 201
    assert_problem(link(api, code="code_b"), 429)
    assert stub_mono.count("exchange") == 1


def test_the_services_mono_limit_is_a_429_problem_with_retry_after(api, stub_mono):
    """The same per-user limit the page has (accounts.throttles), past the API's own throttle."""
    answers = [link(api, code=f"code_{n}") for n in range(7)]

    limited = answers[-1]
    assert_problem(limited, 429)
    assert int(limited["Retry-After"]) > 0
    assert stub_mono.count("exchange") == 5  # the limit: five new codes a minute reach Mono
