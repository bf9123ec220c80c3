"""The real Mono client against Mono's HTTP mocked with `responses` (Mono is never reachable here)."""

import json
import logging
import time

import pytest
import requests
import responses
from django.utils import timezone

from monolink.mono import (
    AccountDetails,
    Deadline,
    Institution,
    MonoAuthError,
    MonoBadResponse,
    MonoCannotReauthorise,
    MonoNotFound,
    MonoRateLimited,
    MonoRequestError,
    MonoUnavailable,
    get_client,
)
from monolink.mono.client import MonoClient
from monolink.mono.sandbox import SandboxClient

KEY = "test_sk_Zq8vX2kLmN4pR7sT9uW1yA3b"
API = "https://api.withmono.com"
ACCOUNT = "5f171a530295e231abca1153"


@pytest.fixture
def sleeps(monkeypatch):
    """Time is mocked: backoff sleeps are recorded, never slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def mono_settings(settings):
    settings.MONO_SECRET_KEY = KEY
    settings.MONO_API_BASE_URL = API
    settings.MONO_API_VERSION = "v2"
    settings.MONO_MAX_RETRIES = 2
    settings.MONO_BACKOFF_FACTOR = 0.01
    settings.MONO_RETRY_AFTER_MAX = 5
    return settings


@pytest.fixture
def client(mono_settings, sleeps):
    return MonoClient()


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def assert_key_hidden(exc, caplog):
    assert KEY not in str(exc)
    assert KEY not in repr(exc)
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()


# --- the four calls ---------------------------------------------------------------------------


def test_exchange_code_v2_flat_answer_sends_key_and_code(client, mocked):
    mocked.post(f"{API}/v2/accounts/auth", json={"id": ACCOUNT})

    assert client.exchange_code("code_abc") == ACCOUNT

    sent = mocked.calls[0].request
    assert sent.headers["mono-sec-key"] == KEY
    assert sent.headers["accept"] == "application/json"
    assert json.loads(sent.body) == {"code": "code_abc"}


def test_exchange_code_v2_wrapped_answer(client, mocked):
    mocked.post(
        f"{API}/v2/accounts/auth",
        json={"status": "successful", "message": "Request completed", "data": {"id": ACCOUNT}},
    )
    assert client.exchange_code("code_abc") == ACCOUNT


def test_exchange_code_v1_uses_legacy_path(mono_settings, sleeps, mocked):
    mono_settings.MONO_API_VERSION = "v1"
    mocked.post(f"{API}/account/auth", json={"id": ACCOUNT})
    assert MonoClient().exchange_code("code_abc") == ACCOUNT


@pytest.mark.parametrize(
    "body",
    [{"status": "successful", "data": {}}, {"message": "ok"}, {"id": ""}, {"id": 42}],
    ids=["wrapped-no-id", "no-id", "empty-id", "numeric-id"],
)
def test_exchange_code_answer_without_account_id_is_bad_response(client, mocked, body):
    mocked.post(f"{API}/v2/accounts/auth", json=body)
    with pytest.raises(MonoBadResponse):
        client.exchange_code("code_abc")


def test_reauthorise_returns_token_issued_now_and_hides_it_in_repr(client, mocked):
    mocked.post(f"{API}/accounts/{ACCOUNT}/reauthorise", json={"token": "reauth_tok_123"})
    before = timezone.now()

    minted = client.reauthorise(ACCOUNT)

    assert minted.token == "reauth_tok_123"
    assert before <= minted.issued_at <= timezone.now()
    assert "reauth_tok_123" not in repr(minted)
    assert mocked.calls[0].request.body is None


def test_get_account_v1_shape_is_normalised(mono_settings, sleeps, mocked):
    mono_settings.MONO_API_VERSION = "v1"
    mocked.get(
        f"{API}/accounts/{ACCOUNT}",
        json={
            "meta": {"data_status": "available", "auth_method": "internet_banking"},
            "account": {
                "_id": ACCOUNT,
                "name": "ADA OKAFOR",
                "accountNumber": "0123456789",
                "currency": "NGN",
                "balance": 1250075,
                "type": "SAVINGS_ACCOUNT",
                "institution": {"name": "GTBank", "bankCode": "058", "type": "PERSONAL_BANKING"},
                "bvn": "2222",
            },
        },
    )

    details = MonoClient().get_account(ACCOUNT)

    assert details == AccountDetails(
        account_id=ACCOUNT,
        name="ADA OKAFOR",
        account_number="0123456789",
        currency="NGN",
        balance=1250075,
        type="SAVINGS_ACCOUNT",
        institution=Institution(name="GTBank", bank_code="058", type="PERSONAL_BANKING"),
        data_status="AVAILABLE",
        auth_method="internet_banking",
    )
    assert details.account_number_masked == "******6789"


def test_get_account_v2_shape_is_normalised(client, mocked):
    mocked.get(
        f"{API}/v2/accounts/{ACCOUNT}",
        json={
            "status": "successful",
            "message": "Request was successfully completed",
            "timestamp": "2026-11-23T10:00:00.000Z",
            "data": {
                "account": {
                    "id": ACCOUNT,
                    "name": "ADA OKAFOR",
                    "currency": "NGN",
                    "type": "Current",
                    "account_number": "0987654321",
                    "balance": "500000",
                    "institution": {"name": "Kuda Bank", "bank_code": "50211", "type": "PERSONAL_BANKING"},
                    "bvn": None,
                },
                "customer": {"id": "64a0"},
                "meta": {"data_status": "Partial", "auth_method": "mobile_banking", "retrieved_data": []},
            },
        },
    )

    details = client.get_account(ACCOUNT)

    assert details.account_id == ACCOUNT
    assert details.account_number == "0987654321"
    assert details.balance == 500000
    assert isinstance(details.balance, int)
    assert details.institution == Institution(name="Kuda Bank", bank_code="50211", type="PERSONAL_BANKING")
    assert details.data_status == "PARTIAL"
    assert details.auth_method == "mobile_banking"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "successful", "data": {"meta": {}}},
        {"account": "nope"},
        {"account": {"_id": ACCOUNT, "balance": "12.5 naira"}},
        {"account": {"_id": ACCOUNT, "balance": 10.5}},
    ],
    ids=["no-account", "account-not-object", "balance-text", "balance-fraction"],
)
def test_get_account_wrong_shape_is_bad_response(client, mocked, body):
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", json=body)
    with pytest.raises(MonoBadResponse):
        client.get_account(ACCOUNT)


# --- Mono's hosted re-auth page (v2 only) -----------------------------------------------------------

RETURN = "https://app.example.test/reconnect/7/returned/"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "successful", "data": {"mono_url": "https://link.mono.co/RE123", "id": "RE123"}},
        {"mono_url": "https://link.mono.co/RE123"},  # flat, should Mono ever drop the envelope
    ],
)
def test_initiate_reauth_posts_monos_payload_and_answers_the_hosted_url(client, mocked, answer):
    mocked.post(f"{API}/v2/accounts/initiate", json=answer)

    url = client.initiate_reauth(ACCOUNT, redirect_url=RETURN, ref="ref-1", deadline=Deadline.after(5))

    assert url == "https://link.mono.co/RE123"
    request = mocked.calls[0].request
    assert json.loads(request.body) == {
        "scope": "reauth",
        "account": ACCOUNT,
        "redirect_url": RETURN,
        "meta": {"ref": "ref-1"},
    }
    assert request.headers["mono-sec-key"] == KEY


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"message": "Reference has already been used"}, MonoRequestError),
        (400, {"message": "This account can not be re-authorised."}, MonoCannotReauthorise),
        (401, {"message": "Invalid secret key"}, MonoAuthError),
        (404, {"message": "Account not found"}, MonoNotFound),
        (503, {"message": "down"}, MonoUnavailable),
        (200, {"data": {"id": "x"}}, MonoBadResponse),  # no mono_url
        (200, {"data": {"mono_url": "http://link.mono.co/x"}}, MonoBadResponse),  # never send a user over http
        (200, {"data": {"mono_url": "javascript:alert(1)"}}, MonoBadResponse),
    ],
)
def test_initiate_reauth_errors_are_typed(client, mocked, caplog, status, body, error):
    mocked.post(f"{API}/v2/accounts/initiate", json=body, status=status)
    with pytest.raises(error) as caught:
        client.initiate_reauth(ACCOUNT, redirect_url=RETURN, ref="ref-1")
    assert_key_hidden(caught.value, caplog)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"redirect_url": RETURN, "ref": ""}, "reference"),
        ({"redirect_url": "/reconnect/7/returned/", "ref": "r"}, "absolute"),
        ({"redirect_url": "javascript:alert(1)", "ref": "r"}, "absolute"),
    ],
)
def test_initiate_reauth_refuses_bad_input_without_calling_mono(client, mocked, kwargs, message):
    with pytest.raises(MonoRequestError, match=message):
        client.initiate_reauth(ACCOUNT, **kwargs)
    assert len(mocked.calls) == 0


def test_initiate_reauth_in_v1_mode_refuses_without_calling_mono(mono_settings, sleeps, mocked):
    mono_settings.MONO_API_VERSION = "v1"
    with pytest.raises(MonoRequestError, match="v2"):
        MonoClient().initiate_reauth(ACCOUNT, redirect_url=RETURN, ref="r")
    assert len(mocked.calls) == 0


def test_account_id_cannot_escape_its_path_segment(client, mocked):
    mocked.get(f"{API}/v2/accounts/..%2F..%2Fadmin", json={"message": "Not found"}, status=404)
    with pytest.raises(MonoNotFound):
        client.get_account("../../admin")
    assert mocked.calls[0].request.path_url == "/v2/accounts/..%2F..%2Fadmin"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (401, {"message": "Invalid secret key"}, MonoAuthError, "Invalid secret key"),
        (403, {"message": "Forbidden"}, MonoAuthError, "Forbidden"),
        (404, {"message": "Account not found"}, MonoNotFound, "Account not found"),
        (400, {"message": "This account can not be re-authorised."}, MonoCannotReauthorise, "can not be re-authorised"),
        (422, {"status": "failed", "message": "Account cannot be reauthorised"}, MonoCannotReauthorise, "cannot"),
        (400, {"message": "Invalid code supplied"}, MonoRequestError, "Invalid code supplied"),
        (409, {"error": "Conflict here"}, MonoRequestError, "Conflict here"),
        (402, {"message": "Insufficient wallet balance"}, MonoRequestError, "Insufficient wallet balance"),
    ],
)
def test_http_errors_become_typed_errors_with_monos_message_and_never_the_key(
    client, mocked, caplog, status, body, error, text
):
    caplog.set_level(logging.DEBUG)
    mocked.post(f"{API}/accounts/{ACCOUNT}/reauthorise", json=body, status=status)

    with pytest.raises(error) as caught:
        client.reauthorise(ACCOUNT)

    assert text in str(caught.value)
    assert caught.value.status == status
    assert len(mocked.calls) == 1  # a 4xx is never retried
    assert_key_hidden(caught.value, caplog)


def test_long_error_message_is_truncated_and_an_echoed_key_is_scrubbed(client, mocked, caplog):
    caplog.set_level(logging.DEBUG)
    mocked.post(f"{API}/v2/accounts/auth", json={"message": f"bad header mono-sec-key={KEY} " + "x" * 500}, status=400)

    with pytest.raises(MonoRequestError) as caught:
        client.exchange_code("code_abc")

    assert len(str(caught.value)) < 300
    assert "[secret]" in str(caught.value)
    assert_key_hidden(caught.value, caplog)


def test_429_then_200_retries_honouring_retry_after(client, mocked, sleeps):
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", json={"message": "slow down"}, status=429, headers={"Retry-After": "2"})
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", json={"account": {"_id": ACCOUNT, "balance": 1}})

    assert client.get_account(ACCOUNT).balance == 1
    assert len(mocked.calls) == 2
    assert sleeps == [2.0]


def test_retry_after_over_the_cap_fails_at_once_instead_of_waiting(client, mocked, sleeps):
    mocked.post(f"{API}/v2/accounts/auth", status=429, headers={"Retry-After": "3600"}, json={})
    mocked.post(f"{API}/v2/accounts/auth", json={"id": ACCOUNT})

    with pytest.raises(MonoRateLimited) as caught:
        client.exchange_code("code_abc")

    assert sleeps == []  # 3600 s is over settings.MONO_RETRY_AFTER_MAX (5 here): no wait, no early retry
    assert len(mocked.calls) == 1
    assert caught.value.retry_after == 3600  # a task's backoff can honour it


def test_retry_after_longer_than_what_is_left_of_the_deadline_fails_at_once(client, mocked, sleeps):
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", status=429, headers={"Retry-After": "4"}, json={})
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", json={"account": {"_id": ACCOUNT}})

    with pytest.raises(MonoRateLimited) as caught:
        client.get_account(ACCOUNT, deadline=Deadline.after(2))

    assert sleeps == []
    assert len(mocked.calls) == 1
    assert caught.value.user_message.startswith("Too many requests")


def test_each_attempt_waits_no_longer_than_what_is_left_of_the_deadline(client, mocked):
    mocked.post(f"{API}/v2/accounts/auth", json={"id": ACCOUNT})

    client.exchange_code("code_abc", deadline=Deadline.after(2))

    connect, read = mocked.calls[0].request.req_kwargs["timeout"]
    assert 0 < connect <= 2
    assert 0 < read <= 2  # settings say 15 s; the deadline wins


def test_an_expired_deadline_fails_without_calling_mono(client, mocked):
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", json={"account": {"_id": ACCOUNT}})

    with pytest.raises(MonoUnavailable, match="within the deadline"):
        client.get_account(ACCOUNT, deadline=Deadline.after(0))

    assert len(mocked.calls) == 0


@pytest.mark.parametrize("call", ["exchange_code", "reauthorise", "get_account", "initiate_reauth"])
def test_a_hanging_mono_costs_the_deadline_and_no_more(mono_settings, hanging_mono, call):
    """Real sockets, real clock: Mono accepts the connection and never answers."""
    mono_settings.MONO_API_BASE_URL = hanging_mono.url
    mono_settings.MONO_TIMEOUT = (3.05, 15)
    mono_settings.MONO_MAX_RETRIES = 3
    client = MonoClient()
    argument = "code_abc" if call == "exchange_code" else ACCOUNT
    extra = {"redirect_url": RETURN, "ref": "r"} if call == "initiate_reauth" else {}

    started = time.monotonic()
    with pytest.raises(MonoUnavailable) as caught:
        getattr(client, call)(argument, deadline=Deadline.after(1.0), **extra)
    elapsed = time.monotonic() - started

    assert 0.9 <= elapsed < 1.5  # the deadline, not 4 x (3.05 + 15) s of attempts
    assert len(hanging_mono.accepted) >= 1  # it really reached the socket
    assert caught.value.user_message.startswith("We couldn't reach")


def test_429_exhausted_is_rate_limited(client, mocked, caplog):
    caplog.set_level(logging.DEBUG)
    mocked.post(f"{API}/v2/accounts/auth", json={"message": "Too many requests"}, status=429)

    with pytest.raises(MonoRateLimited) as caught:
        client.exchange_code("code_abc")

    assert len(mocked.calls) == 3  # one try and MONO_MAX_RETRIES=2 retries
    assert_key_hidden(caught.value, caplog)


def test_500s_exhausting_retries_are_unavailable_with_exponential_backoff(mono_settings, sleeps, mocked, caplog):
    caplog.set_level(logging.DEBUG)
    mono_settings.MONO_MAX_RETRIES = 3
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", json={"message": "Internal error"}, status=500)

    with pytest.raises(MonoUnavailable) as caught:
        MonoClient(backoff_factor=1.0).get_account(ACCOUNT)

    assert len(mocked.calls) == 4
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):  # full jitter under an exponentially growing ceiling
        assert 0 <= slept <= 1.0 * 2**attempt
    assert_key_hidden(caught.value, caplog)


def test_503_then_200_succeeds(client, mocked):
    mocked.post(f"{API}/accounts/{ACCOUNT}/reauthorise", status=503, body="<html>busy</html>")
    mocked.post(f"{API}/accounts/{ACCOUNT}/reauthorise", json={"token": "tok"})
    assert client.reauthorise(ACCOUNT).token == "tok"


@pytest.mark.parametrize(
    "exc", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError]
)
def test_timeouts_and_connection_errors_are_retried_then_unavailable(client, mocked, caplog, exc):
    caplog.set_level(logging.DEBUG)
    mocked.get(f"{API}/v2/accounts/{ACCOUNT}", body=exc(f"boom with {KEY}?"))

    with pytest.raises(MonoUnavailable) as caught:
        client.get_account(ACCOUNT)

    assert len(mocked.calls) == 3
    assert exc.__name__ in str(caught.value)
    assert caught.value.__cause__ is None  # the transport error (and what it carries) is not chained
    assert_key_hidden(caught.value, caplog)


def test_read_timeout_then_success(client, mocked):
    mocked.post(f"{API}/v2/accounts/auth", body=requests.exceptions.ReadTimeout())
    mocked.post(f"{API}/v2/accounts/auth", json={"id": ACCOUNT})
    assert client.exchange_code("code_abc") == ACCOUNT
    assert len(mocked.calls) == 2


def test_session_uses_configured_timeouts(mono_settings, sleeps, mocked):
    mono_settings.MONO_TIMEOUT = (1.5, 7.0)
    mocked.post(f"{API}/v2/accounts/auth", json={"id": ACCOUNT})
    MonoClient().exchange_code("code_abc")
    assert mocked.calls[0].request.req_kwargs["timeout"] == (1.5, 7.0)


@pytest.mark.parametrize(
    ("status", "error"), [(200, MonoBadResponse), (502, MonoUnavailable)], ids=["html-200", "html-502"]
)
def test_html_instead_of_json(client, mocked, caplog, status, error):
    caplog.set_level(logging.DEBUG)
    mocked.get(
        f"{API}/v2/accounts/{ACCOUNT}",
        body="<html><body>Bad gateway</body></html>",
        status=status,
        content_type="text/html",
    )
    with pytest.raises(error) as caught:
        client.get_account(ACCOUNT)
    assert_key_hidden(caught.value, caplog)


def test_json_list_instead_of_object_is_bad_response(client, mocked):
    mocked.post(f"{API}/v2/accounts/auth", json=[{"id": ACCOUNT}])
    with pytest.raises(MonoBadResponse):
        client.exchange_code("code_abc")


def test_client_repr_hides_the_key(client):
    assert KEY not in repr(client)


def test_get_client_follows_the_setting(settings, mono_settings):
    settings.MONO_CLIENT = "monolink.mono.client.MonoClient"
    assert isinstance(get_client(), MonoClient)
    settings.MONO_CLIENT = "monolink.mono.sandbox.SandboxClient"
    assert isinstance(get_client(), SandboxClient)
