"""The API's sign-in: a per-device knox token (shown once, stored hashed, expiring), the web
sign-in's lockout, sign-out of one device or all, problem documents for every refusal, and a token
that never opens the admin."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken

SIGN_IN = "/api/v1/auth/sign-in/"
ACCOUNTS = "/api/v1/accounts/"


def sign_in(client, password="pw-ada-12345", username="ada", **extra):  # noqa: S107
    return client.post(SIGN_IN, {"username": username, "password": password}, "application/json", **extra)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    assert body["detail"].strip() and body["detail"][0].isupper(), body
    return body


def test_sign_in_returns_a_token_shown_once_stored_hashed_with_an_expiry(client, user):
    response = sign_in(client)

    assert response.status_code == 200, response.content
    token = response.json()["token"]
    stored = AuthToken.objects.get(user=user)
    assert token not in (stored.digest, stored.token_key)  # only a prefix and a digest are kept
    assert token.startswith(stored.token_key)
    lifetime = stored.expiry - timezone.now()
    assert timedelta(seconds=settings.API_TOKEN_LIFETIME_SECONDS - 60) < lifetime
    assert lifetime <= timedelta(seconds=settings.API_TOKEN_LIFETIME_SECONDS)
    with connection.cursor() as cursor:  # nowhere in the token table, whatever the column
        cursor.execute("SELECT * FROM knox_authtoken")
        assert not any(token in str(value) for row in cursor.fetchall() for value in row)
    assert client.get(ACCOUNTS, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_each_device_gets_its_own_token(client, user):
    first, second = sign_in(client).json()["token"], sign_in(client).json()["token"]

    assert first != second
    assert AuthToken.objects.filter(user=user).count() == 2


def test_a_wrong_password_is_a_401_problem_and_no_token(client, user):
    body = assert_problem(sign_in(client, password="nope"), 401)

    assert body["detail"] == "Wrong username or password."
    assert body["type"] == "urn:monolink:problem:wrong-credentials"
    assert not AuthToken.objects.exists()


def test_the_web_sign_ins_lockout_counts_api_attempts_and_locks_both(client, user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, password="nope").status_code == 401

    locked = assert_problem(sign_in(client, password="nope"), 429)
    assert locked["type"] == "urn:monolink:problem:signin-locked"
    right_password = sign_in(client)
    assert_problem(right_password, 429)
    assert int(right_password["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    web = client.post("/accounts/login/", {"username": "ada", "password": "pw-ada-12345"})
    assert web.status_code == 429  # the same lockout on the web page, which keeps its own page
    assert "Too many sign-in attempts" in web.content.decode()
    assert not AuthToken.objects.exists()


def test_the_lockout_is_per_client_address_by_the_projects_rule(client, user, settings):
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1"]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="nope", HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert sign_in(client, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    assert sign_in(client, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 200


def test_sign_out_ends_this_device_only(client, user):
    phone, tablet = sign_in(client).json()["token"], sign_in(client).json()["token"]

    assert client.post("/api/v1/auth/sign-out/", HTTP_AUTHORIZATION=f"Bearer {phone}").status_code == 204

    assert_problem(client.get(ACCOUNTS, HTTP_AUTHORIZATION=f"Bearer {phone}"), 401)
    assert client.get(ACCOUNTS, HTTP_AUTHORIZATION=f"Bearer {tablet}").status_code == 200


def test_sign_out_all_ends_every_device(client, user, other_user):
    phone, tablet = sign_in(client).json()["token"], sign_in(client).json()["token"]
    theirs = sign_in(client, username="bola", password="pw-bola-12345").json()["token"]

    assert client.post("/api/v1/auth/sign-out-all/", HTTP_AUTHORIZATION=f"Bearer {phone}").status_code == 204

    for token in (phone, tablet):
        assert_problem(client.get(ACCOUNTS, HTTP_AUTHORIZATION=f"Bearer {token}"), 401)
    assert client.get(ACCOUNTS, HTTP_AUTHORIZATION=f"Bearer {theirs}").status_code == 200


def test_an_expired_token_is_refused_and_deleted(api, user):
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))

    response = api.get(ACCOUNTS)

    body = assert_problem(response, 401)
    assert body["detail"] == "Invalid token."
    assert response["WWW-Authenticate"] == "Bearer"
    assert not AuthToken.objects.exists()


def test_a_signin_deletes_the_users_dead_tokens(client, user):
    sign_in(client)
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    sign_in(client)

    assert AuthToken.objects.count() == 1


def test_an_inactive_user_gets_no_token_and_loses_the_ones_they_had(api, user):
    user.is_active = False
    user.save()

    assert_problem(api.get(ACCOUNTS), 401)
    assert_problem(sign_in(api), 401)


def test_no_token_is_a_401_naming_the_scheme(client, user):
    response = client.get(ACCOUNTS)

    body = assert_problem(response, 401)
    assert body["detail"] == "Authentication credentials were not provided."
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_session_cookie_does_not_open_the_api(signed_in):
    assert_problem(signed_in.get(ACCOUNTS), 401)  # the web's session is not an API credential


@pytest.mark.parametrize("path", ["/admin/", "/admin/accounts/linkedaccount/", "/admin/auth/group/"])
def test_an_api_token_never_opens_the_admin(client, user, path):
    user.is_staff = user.is_superuser = True
    user.save()
    token = sign_in(client).json()["token"]

    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_no_admin_or_page_view_accepts_a_device_token():
    """Every URL outside /api/ is resolved and its view checked: none carries knox's authentication."""
    from django.urls import get_resolver
    from knox.auth import TokenAuthentication

    def views(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if hasattr(entry, "url_patterns"):
                yield from views(entry, prefix + str(entry.pattern))
            else:
                yield prefix + str(entry.pattern), entry.callback

    checked = 0
    for route, view in views(get_resolver()):
        if route.startswith("api/"):
            continue
        classes = getattr(getattr(view, "cls", None), "authentication_classes", [])
        assert not any(issubclass(c, TokenAuthentication) for c in classes), route
        checked += 1
    assert checked > 20


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needle"),
    [
        ("{not json", "application/json", 400, "JSON parse error"),
        ({"username": "ada"}, "application/json", 400, "password: This field is required."),
        ({"username": ["ada"], "password": 1}, "application/json", 400, "username: Not a valid string."),
        ("username=ada&password=x", "application/x-www-form-urlencoded", 415, "Unsupported media type"),
    ],
)
def test_bad_input_is_a_readable_4xx_problem_and_changes_nothing(client, user, body, content_type, status, needle):
    response = client.post(SIGN_IN, body, content_type)

    assert needle in assert_problem(response, status)["detail"]
    assert not AuthToken.objects.exists()


def test_a_wrong_method_and_an_unknown_address_are_problems_too(client, api):
    assert "Method" in assert_problem(client.get(SIGN_IN), 405)["detail"]
    assert_problem(client.get("/api/v1/nothing-here/"), 404)
    assert_problem(api.delete("/api/v2/accounts/"), 404)


def test_the_webhook_keeps_drfs_own_answers(client):
    response = client.post("/webhooks/mono/", {}, "application/json")  # no secret

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "type" not in response.json()


def test_passwords_and_tokens_reach_no_log_and_no_lockout_record(client, user, caplog):
    from axes.models import AccessAttempt, AccessLog

    caplog.set_level(logging.DEBUG)
    sign_in(client, password="wrong-pw-4242")
    token = sign_in(client).json()["token"]
    client.get(ACCOUNTS, HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get(ACCOUNTS, HTTP_AUTHORIZATION=f"Bearer {token}x")  # a refused token is not echoed either

    assert AccessLog.objects.exists()  # axes recorded the sign-in: its record is checked, not an empty table
    for secret in ("wrong-pw-4242", "pw-ada-12345", token):
        assert secret not in caplog.text
        for model in (AccessAttempt, AccessLog):
            assert secret not in str(list(model.objects.values()))


def test_an_unknown_address_with_a_newline_in_it_is_a_problem_too(client):
    # A "." route pattern stops at a newline; Django's HTML 404 would answer instead of the API's shape.
    assert_problem(client.get("/api/v1/reauth/returned/a%0Ab/x/"), 404)
