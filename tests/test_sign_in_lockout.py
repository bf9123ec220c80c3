"""Sign-in in plain words, and its lockout (django-axes): the warning before the last try, the way out
through "Forgot password?", and a completed reset lifting the username's lockout."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

LOGIN = reverse("login")
PASSWORD = "pw-ada-12345"  # the `user` fixture's
NEW_PASSWORD = "a-new-pw-for-ada-7"


def wrong(client: Client, times: int, username: str = "ada"):
    response = None
    for _ in range(times):
        response = client.post(LOGIN, {"username": username, "password": "wrong-guess"})
    return response


def reset_password(client: Client, email: str, mailoutbox, capture) -> None:
    with capture(execute=True):  # the reset email is a job, run when the request commits
        client.post(reverse("password_reset"), {"email": email})
    path = re.search(r"http://testserver(\S+)", mailoutbox[-1].body).group(1)
    form_url = client.get(path, follow=True).redirect_chain[-1][0]
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")


def test_a_completed_reset_lifts_the_lockout_and_the_new_password_signs_in(
    client, user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "http://testserver"
    assert wrong(client, settings.AXES_FAILURE_LIMIT).status_code == 429
    assert client.post(LOGIN, {"username": "ada", "password": PASSWORD}).status_code == 429  # locked

    reset_password(client, user.email, mailoutbox, django_capture_on_commit_callbacks)
    response = client.post(LOGIN, {"username": "ada", "password": NEW_PASSWORD})

    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    assert not AccessAttempt.objects.filter(username="ada").exists()


def test_a_reset_lifts_only_its_own_usernames_lockout(
    client, user, other_user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "http://testserver"
    wrong(client, settings.AXES_FAILURE_LIMIT, username="bola")
    reset_password(client, user.email, mailoutbox, django_capture_on_commit_callbacks)

    assert client.post(LOGIN, {"username": "bola", "password": "pw-bola-12345"}).status_code == 429


def test_a_reset_link_that_fails_validation_lifts_nothing(
    client, user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "http://testserver"
    wrong(client, settings.AXES_FAILURE_LIMIT)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("password_reset"), {"email": user.email})
    path = re.search(r"http://testserver(\S+)", mailoutbox[-1].body).group(1)
    form_url = client.get(path, follow=True).redirect_chain[-1][0]
    refused = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": "not-the-same-pw-9"})

    assert refused.status_code == 200
    assert client.post(LOGIN, {"username": "ada", "password": PASSWORD}).status_code == 429


def test_the_try_before_the_last_warns_that_one_is_left(client, user, settings):
    earlier = wrong(client, settings.AXES_FAILURE_LIMIT - 2).content.decode()
    last = wrong(client, 1).content.decode()

    assert "One try left" not in earlier
    assert "One try left" in last and "for 15 minutes" in last


def test_the_lockout_page_offers_a_reset_and_names_support(client, user, settings):
    settings.SUPPORT_EMAIL = "help@bank.example"
    page = wrong(client, settings.AXES_FAILURE_LIMIT).content.decode()

    assert f'href="{reverse("password_reset")}"' in page and "Forgot password?" in page
    assert 'href="mailto:help@bank.example"' in page


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"username": "", "password": ""}, ["Enter your username", "Enter your password"]),
        ({"username": "ada", "password": ""}, ["Enter your password"]),
        ({"username": "ada", "password": "nope"}, ["The username or password is not right."]),
    ],
)
def test_sign_in_errors_lead_with_a_summary_in_plain_words(client, user, data, errors):
    page = client.post(LOGIN, data).content.decode()

    assert re.search(r"<title>Error: Sign in", page)
    summary = page[page.index('class="error-summary"') : page.index("</div>", page.index('class="error-summary"'))]
    assert "autofocus" in summary and "There is a problem" in summary
    for error in errors:
        assert error in summary
    assert 'href="#id_username"' in summary or 'href="#id_password"' in summary
    assert "Please enter a correct" not in page and "This field is required" not in page


def test_sign_in_without_errors_has_no_summary(client, db):
    page = client.get(LOGIN).content.decode()
    assert "error-summary" not in page and "<title>Sign in" in page
