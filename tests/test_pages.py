"""The user's pages: sign-in redirect, reminder banner, re-auth page, completion and link endpoints."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount

API = "https://api.withmono.com"
LOGIN = "/accounts/login/"
REAUTH = "/reconnect/"
DASHBOARD = "/"
PASSWORD = "pw-ada-12345"


def sign_in(client, next_url=None):
    url = LOGIN + (f"?next={next_url}" if next_url is not None else "")
    data = {"username": "ada", "password": PASSWORD}
    if next_url is not None:
        data["next"] = next_url
    return client.post(url, data)


# --- sign-in redirect ------------------------------------------------------------------------------


def _grace(account):
    account.reauth_submitted_at = timezone.now() - timedelta(minutes=1)


def _old_grace(account):
    account.reauth_submitted_at = timezone.now() - timedelta(hours=2)


@pytest.mark.parametrize(
    ("flag", "extra", "next_url", "expected"),
    [
        (False, None, None, DASHBOARD),
        (False, None, "/somewhere/", "/somewhere/"),
        (False, None, "https://evil.example/", DASHBOARD),
        (True, None, None, REAUTH + "?next=%2F"),
        (True, None, "/somewhere/", REAUTH + "?next=%2Fsomewhere%2F"),
        (True, None, "https://evil.example/", REAUTH + "?next=%2F"),
        (True, None, "//evil.example/x", REAUTH + "?next=%2F"),
        (True, None, REAUTH, REAUTH),  # the email's link: no ?next= pointing back at the page itself
        (True, "unlinked", None, DASHBOARD),
        (True, "grace", "/somewhere/", "/somewhere/"),
        (True, "grace_over", None, REAUTH + "?next=%2F"),
    ],
)
def test_sign_in_redirect_matrix(client, make_account, flag, extra, next_url, expected):
    account = make_account(reauth_required=flag)
    if extra == "unlinked":
        account.unlinked_at = timezone.now()
    elif extra == "grace":
        _grace(account)
    elif extra == "grace_over":
        _old_grace(account)
    account.save()
    response = sign_in(client, next_url)
    assert response.status_code == 302
    assert response["Location"] == expected


def test_wrong_password_stays_on_sign_in_with_a_message(client, user):
    response = client.post(LOGIN, {"username": "ada", "password": "nope"})
    assert response.status_code == 200
    assert "The username or password is not right" in response.content.decode()


# --- reminder banner --------------------------------------------------------------------------------


def test_banner_shows_while_an_account_is_flagged(signed_in, make_account):
    make_account(reauth_required=True, institution_name="Kuda")
    body = signed_in.get(DASHBOARD).content.decode()
    assert 'data-testid="reauth-banner"' in body
    assert "Your Kuda account needs reconnecting" in body


@pytest.mark.parametrize("extra", ["none", "unlinked", "grace"])
def test_banner_absent_when_nothing_needs_the_user(signed_in, make_account, extra):
    account = make_account(reauth_required=extra != "none")
    if extra == "unlinked":
        account.unlinked_at = timezone.now()
    elif extra == "grace":
        _grace(account)
    account.save()
    assert 'data-testid="reauth-banner"' not in signed_in.get(DASHBOARD).content.decode()


def test_banner_costs_at_most_one_query(signed_in, make_account, settings):
    make_account(reauth_required=True)
    make_account(reauth_required=True)
    with CaptureQueriesContext(connection) as with_banner:
        assert 'data-testid="reauth-banner"' in signed_in.get(DASHBOARD).content.decode()
    processors = settings.TEMPLATES[0]["OPTIONS"]["context_processors"]
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {"context_processors": [p for p in processors if p != "accounts.context_processors.monolink"]},
        }
    ]
    with CaptureQueriesContext(connection) as without:
        signed_in.get(DASHBOARD)
    assert len(with_banner) - len(without) <= 1


def test_banner_is_not_queried_for_anonymous_visitors(client, make_account):
    make_account(reauth_required=True)
    with CaptureQueriesContext(connection) as queries:
        client.get(LOGIN)
    assert not [q for q in queries if "accounts_linkedaccount" in q["sql"]]


# --- re-auth page ------------------------------------------------------------------------------------


def test_reauth_page_is_no_store_and_has_a_strict_csp(signed_in, make_account, settings):
    settings.MONO_CONNECT_JS_URL = "https://connect.withmono.com/connect.js"
    settings.MONO_SANDBOX = False
    make_account(reauth_required=True)
    response = signed_in.get(REAUTH)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    policy = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in response["Content-Security-Policy"].split(";") if part
    )
    assert policy["script-src"].split() == ["'self'", "https://connect.withmono.com"]
    assert policy["frame-src"].split() == ["'self'", "https://connect.mono.co"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    external = {w for v in policy.values() for w in v.split() if w.startswith("http")}
    # Mono's hosted re-auth page: the "Reconnect on Mono's page" form's redirect leads there.
    assert policy["form-action"].split() == ["'self'", "https://*.mono.co"]
    assert external == {"https://connect.withmono.com", "https://connect.mono.co", "https://*.mono.co"}
    body = response.content.decode()
    assert '<script src="https://connect.withmono.com/connect.js"></script>' in body
    assert "<script>" not in body  # no inline script: CSP would block it


def test_reauth_page_in_account_mode_passes_the_account_id(signed_in, make_account, settings):
    settings.MONO_REAUTH_MODE = "account"
    account = make_account(reauth_required=True, institution_name="GTBank")
    body = signed_in.get(REAUTH).content.decode()
    assert f'data-credential="{account.mono_account_id}"' in body
    assert 'data-mode="account"' in body
    assert "GTBank" in body and account.account_number_masked in body


def test_reauth_page_never_shows_another_users_account_or_token(signed_in, make_account, other_user, settings):
    settings.MONO_REAUTH_MODE = "token"
    theirs = make_account(
        user=other_user,
        reauth_required=True,
        reauth_token_fingerprint="tok_theirs_secret",
        reauth_token_issued_at=timezone.now(),
    )
    body = signed_in.get(REAUTH).content.decode()
    assert "tok_theirs_secret" not in body
    assert theirs.mono_account_id not in body
    assert theirs.account_number_masked not in body


def test_not_now_continues_to_a_safe_next(signed_in, make_account):
    make_account(reauth_required=True)
    assert 'href="/settings/" data-testid="not-now"' in signed_in.get(REAUTH + "?next=/settings/").content.decode()
    unsafe = signed_in.get(REAUTH + "?next=https://evil.example/").content.decode()
    assert 'href="/" data-testid="not-now"' in unsafe


@pytest.mark.parametrize("next_url", [REAUTH, REAUTH + "?next=/reconnect/", "/reconnect/?x=1"])
def test_not_now_never_leads_back_to_the_reauth_page(signed_in, make_account, next_url):
    make_account(reauth_required=True)
    body = signed_in.get(REAUTH, {"next": next_url}).content.decode()
    assert 'href="/" data-testid="not-now">Not now</a>' in body


def test_reauth_link_opened_signed_out_ends_with_a_not_now_that_leaves(client, user, make_account):
    make_account(reauth_required=True)
    to_sign_in = client.get(REAUTH)  # the email's link, signed out
    login_url = to_sign_in["Location"]
    response = client.post(login_url, {"username": "ada", "password": PASSWORD, "next": REAUTH}, follow=True)
    assert response.redirect_chain[-1][0] == REAUTH
    assert 'href="/" data-testid="not-now">Not now</a>' in response.content.decode()


def test_reauth_page_requires_sign_in(client):
    response = client.get(REAUTH)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


# --- completion endpoint ------------------------------------------------------------------------------


def _complete_url(account):
    return reverse("web:reauth_complete", args=[account.pk])


def test_completion_records_the_attempt_and_starts_the_grace_period(signed_in, make_account):
    account = make_account(reauth_required=True)
    response = signed_in.post(_complete_url(account), {"code": "code_abc"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["message"] == "Waiting for your bank's confirmation…"
    account.refresh_from_db()
    assert account.reauth_submitted_at is not None
    assert account.state == LinkedAccount.State.AWAITING
    assert LinkedAccount.objects.for_user(account.user).needing_user().count() == 0


def test_completion_for_another_users_account_is_404_and_changes_nothing(signed_in, make_account, other_user):
    theirs = make_account(user=other_user, reauth_required=True)
    response = signed_in.post(_complete_url(theirs), {"code": "code_abc"}, content_type="application/json")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.reauth_submitted_at is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"code": ""}',
        b'{"code": 12}',
        b'{"code": "<script>"}',
        b'{"code": "' + b"a" * 600 + b'"}',
    ],
)
def test_completion_rejects_garbage_with_400_and_changes_nothing(signed_in, make_account, body):
    account = make_account(reauth_required=True)
    response = signed_in.post(_complete_url(account), body, content_type="application/json")
    assert response.status_code == 400
    assert "Invalid request" in response.json()["message"]
    account.refresh_from_db()
    assert account.reauth_submitted_at is None


def test_completion_enforces_csrf(user, make_account):
    account = make_account(reauth_required=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(_complete_url(account), {"code": "code_abc"}, content_type="application/json")
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.reauth_submitted_at is None
    # The page hands the script a token; with it (as the script sends it) the post goes through.
    client.get(REAUTH)
    token = client.cookies["csrftoken"].value
    ok = client.post(
        _complete_url(account), {"code": "code_abc"}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert ok.status_code == 200


def test_completion_after_the_webhook_already_cleared_the_flag_is_success(signed_in, make_account):
    account = make_account(reauth_required=False)
    response = signed_in.post(_complete_url(account), {"code": "code_abc"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_completion_accepts_a_plain_form_post(signed_in, make_account):
    account = make_account(reauth_required=True)
    response = signed_in.post(_complete_url(account), {"code": "code_abc", "next": "/x/"})
    assert response.status_code == 302
    assert response["Location"] == "/x/"
    account.refresh_from_db()
    assert account.reauth_submitted_at is not None


def test_user_is_not_sent_back_to_reauth_during_the_grace_period(client, make_account):
    account = make_account(reauth_required=True)
    client.force_login(account.user)
    client.post(_complete_url(account), {"code": "code_abc"}, content_type="application/json")
    client.logout()
    assert sign_in(client)["Location"] == DASHBOARD


# Linking a new account: tests/test_link.py.


# --- dashboard ----------------------------------------------------------------------------------------


def test_dashboard_shows_each_state_badge_and_balances(signed_in, make_account):
    make_account(institution_name="OK Bank", balance=1234567, currency="NGN", data_status="AVAILABLE")
    make_account(institution_name="Flagged Bank", reauth_required=True)
    waiting = make_account(institution_name="Waiting Bank", reauth_required=True)
    _grace(waiting)
    waiting.save()
    make_account(institution_name="Gone Bank", unlinked_at=timezone.now())
    body = signed_in.get(DASHBOARD).content.decode()
    for label in ("badge-ok", "badge-needs_reauth", "badge-awaiting", "badge-unlinked"):
        assert label in body
    assert "₦12,345.67" in body
    assert "Available" in body


@pytest.mark.parametrize("sandbox", [True, False])
def test_dashboard_shows_the_sandbox_trigger_command_only_in_sandbox_mode(signed_in, account, settings, sandbox):
    settings.MONO_SANDBOX = sandbox
    body = signed_in.get(DASHBOARD).content.decode()
    command = f"mono_trigger reauthorisation_required --account {account.mono_account_id}"
    assert (command in body) is sandbox


def test_dashboard_only_lists_the_users_own_accounts(signed_in, make_account, other_user):
    make_account(user=other_user, institution_name="Their Bank")
    assert "Their Bank" not in signed_in.get(DASHBOARD).content.decode()


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1234567, "NGN", "₦12,345.67"),
        (0, "", "₦0.00"),
        (-50, "NGN", "-₦0.50"),
        (None, "NGN", "—"),
        (100, "usd", "USD 1.00"),
    ],
)
def test_minor_units_are_formatted_as_naira(amount, currency, shown):
    from monolink.templatetags.money import minor_units

    assert minor_units(amount, currency) == shown


def test_reauth_link_in_banner_keeps_the_current_page_as_next(signed_in, make_account):
    make_account(reauth_required=True)
    body = signed_in.get(DASHBOARD + "?page=2").content.decode()
    href = body.split('href="/reconnect/?next=', 1)[1].split('"', 1)[0]
    assert parse_qs(urlsplit("/?next=" + href).query)["next"] == ["/?page=2"]
