"""Password spraying (issue 22, item 5): one wrong guess at each of many usernames from one address,
then the right password for one of them. Driven through the real sign-in form (its page, its CSRF
token, its POST), as the attacker did."""

import re

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.factories import UserFactory

LOGIN = "/accounts/login/"
ATTACKER = "203.0.113.9"
PASSWORD = "pw-ada-12345"  # the `user` fixture's


def form_client(address: str) -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=address)


def sign_in(client: Client, username: str, password: str):
    page = client.get(LOGIN)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return client.post(LOGIN, {"username": username, "password": password, "csrfmiddlewaretoken": token})


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def sprayed(db):
    """Thirty other accounts the attacker guesses at, once each."""
    return [UserFactory().username for _ in range(30)]


def test_spraying_thirty_usernames_locks_the_address_and_the_right_password_then_fails(user, sprayed, settings):
    attacker = form_client(ATTACKER)

    answers = [sign_in(attacker, name, "Summer2026!").status_code for name in sprayed]
    right = sign_in(attacker, "ada", PASSWORD)

    limit = settings.SIGNIN_ADDRESS_FAILURE_LIMIT
    # The form again, then the lockout page from the failure that reaches the limit (as for a username).
    assert answers == [200] * (limit - 1) + [429] * (31 - limit)
    assert right.status_code == 429
    assert "Sign-in from your network is paused" in right.text
    assert not is_signed_in(attacker)


def test_the_real_user_at_another_address_is_unaffected(user, sprayed):
    for name in sprayed:
        sign_in(form_client(ATTACKER), name, "Summer2026!")
    ada = form_client("198.51.100.20")

    response = sign_in(ada, "ada", PASSWORD)

    assert response.status_code == 302
    assert is_signed_in(ada)


def test_signing_in_to_an_account_of_ones_own_does_not_clear_the_address(user, other_user, sprayed, settings):
    attacker = form_client(ATTACKER)
    half = settings.SIGNIN_ADDRESS_FAILURE_LIMIT // 2
    for name in sprayed[:half]:
        sign_in(attacker, name, "Summer2026!")
    assert sign_in(attacker, "bola", "pw-bola-12345").status_code == 302  # the attacker's own account
    attacker.logout()
    for name in sprayed[half : 2 * half]:
        sign_in(attacker, name, "Summer2026!")

    assert sign_in(attacker, "ada", PASSWORD).status_code == 429


def test_a_few_wrong_passwords_from_a_shared_address_lock_nothing(user, sprayed, settings):
    office = form_client(ATTACKER)  # colleagues behind one NAT mistyping now and then
    for name in sprayed[: settings.SIGNIN_ADDRESS_FAILURE_LIMIT - 1]:
        sign_in(office, name, "typo")

    assert sign_in(office, "ada", PASSWORD).status_code == 302


def test_staff_lift_an_address_lockout_by_deleting_its_attempts(user, sprayed):
    for name in sprayed:
        sign_in(form_client(ATTACKER), name, "Summer2026!")
    AccessAttempt.objects.filter(ip_address=ATTACKER).delete()  # what Axes > Access attempts does

    assert sign_in(form_client(ATTACKER), "ada", PASSWORD).status_code == 302
