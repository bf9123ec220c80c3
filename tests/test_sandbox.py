"""The sandbox: a stateless stand-in for Mono's API, and the fake-Mono endpoint its widget calls,
which delivers Mono's webhooks over real HTTP with the webhook secret."""

import importlib
import json
import time
from unittest import mock

import pytest
import requests
from django.core import signing
from django.urls import reverse

from monolink.mono import MonoNotFound, MonoRequestError
from monolink.mono.sandbox import (
    BANKS,
    CODE_SALT,
    TOKEN_SALT,
    SandboxClient,
    bank_for,
    is_account_id,
    issue_code,
    new_account_id,
    verify_reauth_token,
)

ACCOUNT = "5f171a530295e231abca1153"
COMPLETE = "/sandbox/complete/"


# --- deliveries reach `receiver` (tests/conftest.py), a local stand-in for our webhook endpoint ---


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def delivered(receiver, count):
    assert wait_for(lambda: len(receiver.received) >= count), f"got {len(receiver.received)} deliveries"
    time.sleep(0.2)  # nothing more should follow
    return [item["json"] for item in receiver.received]


# --- the client -------------------------------------------------------------------------------


def test_code_round_trips_to_the_account_id():
    assert SandboxClient().exchange_code(issue_code(ACCOUNT)) == ACCOUNT


def test_two_codes_for_one_account_differ():
    assert issue_code(ACCOUNT) != issue_code(ACCOUNT)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "garbage",
        "x" * 600,
        issue_code(ACCOUNT)[:-2] + "zz",  # tampered signature
        signing.dumps({"a": ACCOUNT}, salt=TOKEN_SALT),  # a re-auth token is not a code
        signing.dumps({"a": ACCOUNT}, salt=CODE_SALT, key="another-deployments-secret-key-0123456789"),
        signing.dumps({"a": "not-an-object-id"}, salt=CODE_SALT),
        signing.dumps(["a", ACCOUNT], salt=CODE_SALT),
    ],
    ids=["empty", "garbage", "huge", "tampered", "token-as-code", "foreign", "bad-id", "not-object"],
)
def test_exchange_code_rejects_garbage(code):
    with pytest.raises(MonoRequestError):
        SandboxClient().exchange_code(code)


def test_code_expires_after_ten_minutes():
    code = issue_code(ACCOUNT)
    with mock.patch("time.time", return_value=time.time() + 9 * 60):
        assert SandboxClient().exchange_code(code) == ACCOUNT
    with mock.patch("time.time", return_value=time.time() + 10 * 60 + 5), pytest.raises(MonoRequestError) as caught:
        SandboxClient().exchange_code(code)
    assert "expired" in str(caught.value)


def test_reauth_token_is_valid_for_ten_minutes_then_rejected():
    minted = SandboxClient().reauthorise(ACCOUNT)
    assert verify_reauth_token(minted.token) == ACCOUNT
    with mock.patch("time.time", return_value=time.time() + 9 * 60 + 50):
        assert verify_reauth_token(minted.token) == ACCOUNT
    with mock.patch("time.time", return_value=time.time() + 10 * 60 + 5), pytest.raises(MonoRequestError):
        verify_reauth_token(minted.token)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        issue_code(ACCOUNT),  # a code is not a token
        signing.dumps({"a": ACCOUNT}, salt=TOKEN_SALT, key="another-deployments-secret-key-0123456789"),
    ],
    ids=["garbage", "code-as-token", "foreign"],
)
def test_foreign_or_garbage_token_is_rejected(token):
    with pytest.raises(MonoRequestError):
        verify_reauth_token(token)


def test_account_details_are_stable_plausible_and_match_the_chosen_bank():
    for bank in BANKS:
        account_id = new_account_id(bank.bank_code)
        assert is_account_id(account_id)
        first = SandboxClient().get_account(account_id)
        assert first == SandboxClient().get_account(account_id)  # refreshes are stable
        assert first.institution.bank_code == bank.bank_code
        assert first.institution.name == bank.name
        assert first.currency == "NGN"
        assert isinstance(first.balance, int)
        assert first.balance >= 0
        assert len(first.account_number) == 10
        assert first.data_status == "AVAILABLE"


def test_sandbox_banks_are_the_nigerian_banks():
    assert {(b.name, b.bank_code) for b in BANKS} == {
        ("GTBank", "058"),
        ("Access Bank", "044"),
        ("Zenith Bank", "057"),
        ("First Bank of Nigeria", "011"),
        ("United Bank for Africa", "033"),
        ("Kuda Bank", "50211"),
    }


@pytest.mark.parametrize("call", ["get_account", "reauthorise"])
def test_unknown_account_shape_is_not_found(call):
    with pytest.raises(MonoNotFound):
        getattr(SandboxClient(), call)("../etc/passwd")


def test_bank_is_encoded_in_the_id():
    assert bank_for(new_account_id("50211")).name == "Kuda Bank"


# --- the fake-Mono endpoint -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "application/json"),
        (b"", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"mode": "steal"}', "application/json"),
        (b'{"mode": "link"}', "application/json"),
        (b'{"mode": "link", "bank_code": "999"}', "application/json"),
        (b'{"mode": "link", "bank_code": ["058"]}', "application/json"),
        (b'{"mode": "reauth"}', "application/json"),
        (b'{"mode": "reauth", "account_id": "nope"}', "application/json"),
        (b'{"mode": "reauth", "token": "forged"}', "application/json"),
        (b'{"mode": "link", "bank_code": "058", "pad": "' + b"x" * 5000 + b'"}', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_complete_rejects_bad_input_with_400_and_delivers_nothing(client, settings, receiver, body, content_type):
    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url

    response = client.post(COMPLETE, data=body, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["error"]
    time.sleep(0.2)
    assert receiver.received == []


def test_complete_is_post_only(client):
    assert client.get(COMPLETE).status_code == 405


def test_complete_is_csrf_exempt_like_a_third_party(settings, receiver):
    from django.test import Client

    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url
    response = Client(enforce_csrf_checks=True).post(
        COMPLETE, data={"mode": "link", "bank_code": "058"}, content_type="application/json"
    )
    assert response.status_code == 200
    delivered(receiver, 2)


def test_link_completion_returns_a_code_and_delivers_connected_then_updated(client, settings, receiver):
    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url
    settings.MONO_WEBHOOK_SECRET = "sandbox-test-secret"

    response = client.post(COMPLETE, data={"mode": "link", "bank_code": "057"}, content_type="application/json")

    assert response.status_code == 200
    account_id = SandboxClient().exchange_code(response.json()["code"])
    assert bank_for(account_id).name == "Zenith Bank"
    events = delivered(receiver, 2)
    assert [e["event"] for e in events] == ["mono.events.account_connected", "mono.events.account_updated"]
    assert events[0]["data"]["id"] == account_id
    assert events[1]["data"]["account"]["_id"] == account_id
    assert events[1]["data"]["account"]["institution"] == {
        "name": "Zenith Bank",
        "bankCode": "057",
        "type": "PERSONAL_BANKING",
    }
    assert events[0]["event_id"] != events[1]["event_id"]
    for item in receiver.received:
        assert item["path"] == "/webhooks/mono/"
        assert item["headers"]["mono-webhook-secret"] == "sandbox-test-secret"
        assert item["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("mode", ["token", "account_id"])
def test_reauth_completion_delivers_reauthorized_then_updated(client, settings, receiver, mode):
    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url
    credential = SandboxClient().reauthorise(ACCOUNT).token if mode == "token" else ACCOUNT

    response = client.post(COMPLETE, data={"mode": "reauth", mode: credential}, content_type="application/json")

    assert response.status_code == 200
    assert SandboxClient().exchange_code(response.json()["code"]) == ACCOUNT
    events = delivered(receiver, 2)
    assert [e["event"] for e in events] == ["mono.events.account_reauthorized", "mono.events.account_updated"]
    assert all(e["data"]["account"]["_id"] == ACCOUNT for e in events)


def test_expired_reauth_token_is_400(client, settings, receiver):
    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url
    token = SandboxClient().reauthorise(ACCOUNT).token
    with mock.patch("time.time", return_value=time.time() + 11 * 60):
        response = client.post(COMPLETE, data={"mode": "reauth", "token": token}, content_type="application/json")
    assert response.status_code == 400
    assert "expired" in response.json()["error"]


def test_delivery_is_retried_until_the_receiver_accepts(client, settings, receiver):
    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url
    receiver.status = 500

    client.post(COMPLETE, data={"mode": "reauth", "account_id": ACCOUNT}, content_type="application/json")
    assert wait_for(lambda: len(receiver.received) >= 2)
    receiver.status = 200

    events = delivered(receiver, 4)
    names = [e["event"] for e in events]
    assert names[0] == names[1] == "mono.events.account_reauthorized"  # Mono's retry: same event…
    assert events[0]["event_id"] == events[1]["event_id"]  # …with the same id
    assert names[-1] == "mono.events.account_updated"


def test_sandbox_endpoint_is_mounted_only_in_sandbox_mode(settings):
    import monolink.urls

    def mounted():
        importlib.reload(monolink.urls)
        return any(str(p.pattern) == "sandbox/" for p in monolink.urls.urlpatterns)

    try:
        settings.MONO_SANDBOX = False
        assert not mounted()
        settings.MONO_SANDBOX = True
        assert mounted()
    finally:
        settings.MONO_SANDBOX = True
        importlib.reload(monolink.urls)
    assert reverse("sandbox:complete") == COMPLETE


@pytest.mark.django_db(transaction=True)
def test_widget_completion_reaches_the_real_webhook_endpoint_with_the_secret(settings, live_server):
    """End to end over HTTP: fake Mono → /webhooks/mono/ (secret check, delivery log)."""
    from webhooks.models import WebhookEvent

    settings.MONO_SANDBOX_WEBHOOK_URL = ""  # derived from SITE_URL: the live server's own endpoint
    settings.SITE_URL = live_server.url
    answer = requests.post(live_server.url + COMPLETE, json={"mode": "link", "bank_code": "044"}, timeout=10)

    assert answer.status_code == 200
    account_id = SandboxClient().exchange_code(answer.json()["code"])
    assert wait_for(lambda: WebhookEvent.objects.filter(mono_account_id=account_id).count() >= 2)
    rows = list(WebhookEvent.objects.filter(mono_account_id=account_id).order_by("id"))
    assert [r.event for r in rows] == ["mono.events.account_connected", "mono.events.account_updated"]
    for row in rows:
        assert settings.MONO_WEBHOOK_SECRET not in json.dumps(row.headers)


# --- the fake hosted re-auth page (Mono's `mono_url`, for when the widget cannot load) -------------

BACK = "http://testserver/reconnect/7/returned/"


def hosted_link(settings, account=ACCOUNT, redirect_url=BACK, ref="ref-1") -> str:
    settings.SITE_URL = "http://testserver"
    url = SandboxClient().initiate_reauth(account, redirect_url=redirect_url, ref=ref)
    assert url.startswith("http://testserver/sandbox/hosted/")
    return url.removeprefix("http://testserver")


def test_initiate_reauth_points_at_the_fake_hosted_page_and_refuses_garbage(settings):
    first, second = hosted_link(settings), hosted_link(settings)
    assert first != second  # a fresh link per attempt
    with pytest.raises(MonoNotFound):
        SandboxClient().initiate_reauth("nope", redirect_url=BACK, ref="r")
    with pytest.raises(MonoRequestError):
        SandboxClient().initiate_reauth(ACCOUNT, redirect_url="/relative/", ref="r")
    with pytest.raises(MonoRequestError):
        SandboxClient().initiate_reauth(ACCOUNT, redirect_url=BACK, ref=" ")


def test_hosted_page_is_labelled_fake_and_asks_for_any_username_and_password(client, settings):
    page = client.get(hosted_link(settings))
    assert page.status_code == 200
    body = page.content.decode()
    assert "SANDBOX" in body and "Mono's hosted page (fake)" in body
    assert f"Reconnect {bank_for(ACCOUNT).name}" in body  # the bank is read from the account id, as in the widget
    assert "use any username and password" in body
    assert f'href="{BACK}"' in body  # cancel goes back to the app


def test_hosted_page_otp_step_has_its_own_copy(client, settings):
    url = hosted_link(settings)
    page = client.post(url, {"step": "credentials", "username": "ada", "password": "x"})
    body = page.content.decode()
    assert page.status_code == 200 and 'name="otp"' in body
    assert "any 6 digits; 000000 acts as a wrong code" in body
    assert "username and password" not in body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"step": "credentials", "username": " ", "password": "x"}, "Enter a username and a password"),
        ({"step": "otp", "otp": "12345"}, "Enter the 6-digit code."),
        # full-width digits are not the six ASCII digits a code is made of
        ({"step": "otp", "otp": "\uff11\uff12\uff13\uff14\uff15\uff16"}, "Enter the 6-digit code."),
        ({"step": "otp", "otp": "000000"}, "That code is wrong"),
        ({"step": "steal"}, "Start again."),
    ],
)
def test_hosted_page_refuses_bad_input_and_delivers_nothing(client, settings, receiver, data, error):
    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url
    response = client.post(hosted_link(settings), data)
    assert response.status_code == 400
    assert error in response.content.decode()
    time.sleep(0.2)
    assert receiver.received == []


@pytest.mark.parametrize("session", ["garbage", "x" * 600])
def test_hosted_page_with_a_bad_link_says_so(client, session):
    response = client.get(reverse("sandbox:hosted", args=[session]))
    assert response.status_code == 400
    assert "This link doesn't work" in response.content.decode()


def test_hosted_link_expires(client, settings):
    url = hosted_link(settings)
    with mock.patch("time.time", return_value=time.time() + 31 * 60):
        response = client.get(url)
    assert response.status_code == 400
    assert "expired" in response.content.decode()


def test_hosted_page_completes_back_to_the_app_then_delivers_reauthorized_and_updated(client, settings, receiver):
    settings.MONO_SANDBOX_WEBHOOK_URL = receiver.url
    url = hosted_link(settings)
    client.post(url, {"step": "credentials", "username": "ada", "password": "x"})

    response = client.post(url, {"step": "otp", "otp": "123456"})

    assert response.status_code == 302
    assert response["Location"] == BACK  # the redirect_url signed into the link: never a URL from the form
    events = delivered(receiver, 2)
    assert [e["event"] for e in events] == ["mono.events.account_reauthorized", "mono.events.account_updated"]
    assert all(e["data"]["account"]["_id"] == ACCOUNT for e in events)
