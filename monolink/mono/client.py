"""The real Mono API client: the only code in monolink that calls Mono over HTTP.

One `requests.Session` per client with Mono's headers; every call goes through `_request`, which
retries 429, 5xx, connection errors and timeouts with exponential backoff and jitter inside the
caller's `Deadline` (attempts, waits and Retry-After all draw on it), and turns every failure into a
typed `MonoError` whose message never contains our secret key.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils import timezone

from monolink import metrics

from . import watchdog
from .types import (
    AccountDetails,
    Deadline,
    MonoAuthError,
    MonoBadResponse,
    MonoCannotReauthorise,
    MonoError,
    MonoNotFound,
    MonoRateLimited,
    MonoRequestError,
    MonoUnavailable,
    ReauthToken,
    details_from_mono,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Mono answers e.g. {"message": "This account can not be re-authorised."}
_CANNOT_REAUTH = re.compile(r"can\s*not\s+be\s+re-?authori[sz]ed", re.IGNORECASE)
_MESSAGE_LIMIT = 200
_BACKOFF_MAX = 30.0


class MonoClient:
    """Mono's HTTP API (v1 or v2 paths per settings.MONO_API_VERSION), typed in and out.

    Retries are written here rather than delegated to urllib3's `Retry` on the adapter because
    (1) `Retry` knows no total deadline (a `Retry-After: 3600` or a hanging Mono would hold a page
    far past gunicorn's timeout), (2) after exhausting status retries we must still know whether the
    last answer was a 429 or a 5xx to raise the right typed error, and (3) `responses`, our test
    boundary, does not drive urllib3's retries on connection errors and timeouts.

    The read timeout bounds each wait for a byte, which a Mono trickling a byte every few seconds
    never meets: the deadline is therefore kept by the wall clock too (monolink.mono.watchdog shuts
    the connection when it passes, headers or body), so no call outlives it.
    """

    def __init__(
        self,
        *,
        secret_key: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        timeout: tuple[float, float] | None = None,
        max_retries: int | None = None,
        backoff_factor: float | None = None,
        retry_after_max: float | None = None,
    ):
        self._secret_key = settings.MONO_SECRET_KEY if secret_key is None else secret_key
        self.base_url = (base_url or settings.MONO_API_BASE_URL).rstrip("/")
        self.api_version = api_version or settings.MONO_API_VERSION
        self.timeout = timeout or settings.MONO_TIMEOUT
        self.max_retries = settings.MONO_MAX_RETRIES if max_retries is None else max_retries
        self.backoff_factor = settings.MONO_BACKOFF_FACTOR if backoff_factor is None else backoff_factor
        self.retry_after_max = settings.MONO_RETRY_AFTER_MAX if retry_after_max is None else retry_after_max
        self.session = requests.Session()
        watchdog.mount(self.session)
        self.session.headers.update({"mono-sec-key": self._secret_key, "accept": "application/json"})

    def __repr__(self) -> str:  # the session holds the key: never show it
        return f"MonoClient(base_url={self.base_url!r}, api_version={self.api_version!r})"

    # --- the calls --------------------------------------------------------------------------

    def exchange_code(self, code: str, *, deadline: Deadline | None = None) -> str:
        if not code or not isinstance(code, str):
            raise MonoRequestError("The widget code is empty.")
        path = "/v2/accounts/auth" if self.api_version == "v2" else "/account/auth"
        body = self._request("POST", path, deadline, json={"code": code})
        # v2 is documented flat {"id"} but has been seen wrapped {"status","message","data":{"id"}}.
        account_id = _unwrap(body).get("id")
        if not isinstance(account_id, str) or not account_id:
            raise MonoBadResponse(f"Mono's code exchange answer has no account id (keys: {sorted(body)[:10]}).")
        return account_id

    def reauthorise(self, account_id: str, *, deadline: Deadline | None = None) -> ReauthToken:
        body = self._request("POST", f"/accounts/{_segment(account_id)}/reauthorise", deadline)
        token = _unwrap(body).get("token")
        if not isinstance(token, str) or not token:
            raise MonoBadResponse("Mono's re-authorise answer has no token.")
        return ReauthToken(token=token, issued_at=timezone.now())

    def get_account(self, account_id: str, *, deadline: Deadline | None = None) -> AccountDetails:
        body = self._request("GET", f"{self._accounts}/{_segment(account_id)}", deadline)
        try:
            return parse_account(body, fallback_id=account_id)
        except (TypeError, ValueError, AttributeError) as exc:
            raise MonoBadResponse(f"Mono's account answer has an unexpected shape: {exc}") from None

    def initiate_reauth(self, account_id: str, *, redirect_url: str, ref: str, deadline: Deadline | None = None) -> str:
        """POST /v2/accounts/initiate with scope "reauth": Mono's hosted re-auth page for the account.

        v2 only: the legacy API has no such endpoint. A retry after a lost answer reuses `ref`, which
        Mono may refuse as reused: that becomes the readable error, and the user's next click brings a
        fresh ref (the caller makes one per attempt).
        """
        if self.api_version != "v2":
            raise MonoRequestError("Mono's hosted re-auth page needs the v2 API (MONO_API_VERSION=v2).")
        _segment(account_id)  # the same check as a path segment: a non-empty string
        if not isinstance(ref, str) or not ref.strip():
            raise MonoRequestError("A re-auth attempt needs a reference (meta.ref).")
        if not isinstance(redirect_url, str) or not redirect_url.startswith(("https://", "http://")):
            raise MonoRequestError("The redirect URL must be an absolute http(s) URL.")
        payload = {"scope": "reauth", "account": account_id, "redirect_url": redirect_url, "meta": {"ref": ref}}
        body = self._request("POST", "/v2/accounts/initiate", deadline, json=payload)
        mono_url = _unwrap(body).get("mono_url")
        # Only ever send a user to an https page: anything else is not Mono's hosted page.
        if not isinstance(mono_url, str) or not mono_url.startswith("https://"):
            raise MonoBadResponse("Mono's initiate answer has no https mono_url.")
        return mono_url

    @property
    def _accounts(self) -> str:
        return "/v2/accounts" if self.api_version == "v2" else "/accounts"

    # --- transport -------------------------------------------------------------------------------

    @metrics.timed_mono_call
    def _request(self, method: str, path: str, deadline: Deadline | None, *, json: Any = None) -> dict:
        deadline = deadline or Deadline.after(settings.MONO_TASK_DEADLINE)
        url = self.base_url + path
        attempt = 0
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise MonoUnavailable(f"Mono did not answer {method} {path} within the deadline ({attempt} attempts).")
            connect, read = self.timeout
            try:
                with watchdog.watch(remaining) as watch:
                    response = self.session.request(
                        method, url, json=json, timeout=(min(connect, remaining), min(read, remaining)), stream=True
                    )
                    response.content  # noqa: B018 (the body is read under the same watch)
                    watch.check()  # a cut close-delimited body ends without an error
            except watchdog.DeadlinePassed:
                raise MonoUnavailable(
                    f"Mono did not answer {method} {path} within the deadline ({attempt + 1} attempts)."
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                # A timeout on a POST may have reached Mono: the calls are safe to repeat
                # (exchange is idempotent for a code, a second token just supersedes the first; initiate: see there).
                if attempt < self.max_retries and self._wait(attempt, None, deadline):
                    attempt += 1
                    log.warning("mono %s %s %s; retry %d", method, path, type(exc).__name__, attempt)
                    continue
                raise MonoUnavailable(
                    f"Mono did not answer {method} {path} after {attempt + 1} attempts ({type(exc).__name__})."
                ) from None
            except requests.RequestException as exc:
                raise MonoUnavailable(f"Mono request {method} {path} failed ({type(exc).__name__}).") from None
            status = response.status_code
            if (
                status in RETRY_STATUSES
                and attempt < self.max_retries
                and self._wait(attempt, response.headers.get("Retry-After"), deadline)
            ):
                attempt += 1
                log.warning("mono %s %s answered %d; retry %d", method, path, status, attempt)
                continue
            return self._handle(response, method, path, attempts=attempt + 1)

    def _wait(self, attempt: int, retry_after: str | None, deadline: Deadline) -> bool:
        """Sleep before the next attempt and return True, or return False at once when the wait
        does not fit: what is left of the deadline, or a Retry-After over MONO_RETRY_AFTER_MAX (then
        the caller, a user or a task's own backoff, retries later instead of this call hanging)."""
        delay = _parse_retry_after(retry_after)
        if delay is None:
            # Full jitter: spreads retries from several app servers hitting the same 429.
            delay = random.uniform(0, min(_BACKOFF_MAX, self.backoff_factor * (2**attempt)))
        elif delay > self.retry_after_max:
            return False
        if delay >= deadline.remaining():
            return False
        time.sleep(max(0.0, delay))
        return True

    def _handle(self, response: requests.Response, method: str, path: str, *, attempts: int):
        status = response.status_code
        body = _json_or_none(response)
        if 200 <= status < 300:
            if not isinstance(body, dict):
                kind = "non-JSON" if body is None else f"JSON {type(body).__name__}"
                raise MonoBadResponse(
                    f"Mono answered {method} {path} with {kind} ({response.headers.get('content-type', '?')}).",
                    status=status,
                )
            return body
        message = self._safe_message(body, response)
        where = f"Mono {method} {path} → {status}"
        if 400 <= status < 500 and _CANNOT_REAUTH.search(message):
            raise MonoCannotReauthorise(f"{where}: {message}", status=status)
        if status in (401, 403):
            raise MonoAuthError(f"{where}: the secret key was refused. {message}".rstrip(), status=status)
        if status == 404:
            raise MonoNotFound(f"{where}: {message}".rstrip(": "), status=status)
        if status == 429:
            raise MonoRateLimited(
                f"{where} after {attempts} attempts: {message}".rstrip(": "),
                status=status,
                retry_after=_parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise MonoUnavailable(f"{where} after {attempts} attempts: {message}".rstrip(": "), status=status)
        if 400 <= status < 500:
            raise MonoRequestError(f"{where}: {message}".rstrip(": "), status=status)
        raise MonoBadResponse(f"{where}: unexpected status.", status=status)

    def _safe_message(self, body: Any, response: requests.Response) -> str:
        """Mono's own words (truncated), scrubbed of our key in case an error page echoes headers."""
        if isinstance(body, dict):
            text = body.get("message") or body.get("error") or ""
            text = text if isinstance(text, str) else str(text)
        else:
            text = "(not JSON)" if response.content else ""
        if self._secret_key:
            text = text.replace(self._secret_key, "[secret]")
        text = " ".join(text.split())
        return text[:_MESSAGE_LIMIT] + ("…" if len(text) > _MESSAGE_LIMIT else "")


def _segment(account_id: str) -> str:
    if not account_id or not isinstance(account_id, str):
        raise MonoRequestError("The Mono account id is empty.")
    return quote(account_id, safe="")  # an id can never reach another path


def _unwrap(body: dict) -> dict:
    """Mono's v2 envelope {"status", "message", "data": {...}} or a flat v1 answer: the payload."""
    return body["data"] if isinstance(body.get("data"), dict) else body


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_account(body: dict, *, fallback_id: str = "") -> AccountDetails:
    """Normalise v1 `{meta, account:{_id, accountNumber, institution:{bankCode}}}` and v2
    `{data:{account:{id, account_number, institution:{bank_code}}, meta}}` into AccountDetails."""
    root = _unwrap(body)
    account = root.get("account")
    if not isinstance(account, dict):
        raise ValueError("no 'account' object")
    meta = root.get("meta")
    account_id = account.get("id") or account.get("_id") or fallback_id
    return details_from_mono(account_id="" if account_id is None else str(account_id), account=account, meta=meta)


__all__ = ["MonoClient", "MonoError", "parse_account"]
