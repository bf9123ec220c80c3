"""Typed results and errors shared by the real client and the sandbox."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.core.validators import RegexValidator

# A Connect widget's one-time `code`: a short opaque token; anything else is garbage, not something
# to send to Mono. The web form and the API validate with these.
CODE_MAX_LENGTH = 512
code_validator = RegexValidator(r"^[A-Za-z0-9._:~-]+$", "The code has characters Mono never uses.")


@dataclass(frozen=True)
class Institution:
    name: str = ""
    bank_code: str = ""
    type: str = ""


@dataclass(frozen=True)
class AccountDetails:
    """Mono's account details, v1 and v2 shapes normalised. `balance` is in minor units (kobo)."""

    account_id: str
    name: str = ""
    account_number: str = ""
    currency: str = ""
    balance: int | None = None
    type: str = ""
    institution: Institution = Institution()
    data_status: str = ""  # upper-cased: AVAILABLE, PARTIAL, UNAVAILABLE, FAILED, PROCESSING
    auth_method: str = ""

    @property
    def account_number_masked(self) -> str:
        return mask_account_number(self.account_number)


def mask_account_number(number: str) -> str:
    """'0123456789' → '******6789': the last four digits, as every screen shows an account number."""
    number = number or ""
    return f"******{number[-4:]}" if len(number) >= 4 else number


def minor_units(value: Any) -> int | None:
    """A balance in minor units (kobo): Mono sends an integer; a numeric string is accepted too."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("balance is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ValueError(f"balance {value!r} is not a whole number of minor units")


def _text(value: Any) -> str:
    """A field from Mono as one line of plain text: every control, format (bidi overrides, zero-width)
    and whitespace character becomes a space, runs of spaces collapse. Mono's names reach email
    subjects (where a newline stops the mail: header injection is refused) and pages; here is the
    one place they are read."""
    if value is None:
        return ""
    text = "".join(" " if ch.isspace() or unicodedata.category(ch)[0] == "C" else ch for ch in str(value))
    return " ".join(text.split())


def details_from_mono(*, account_id: str, account: Any, meta: Any) -> AccountDetails:
    """Mono's account object and meta, as the API (v1 camelCase, v2 snake_case) and the
    account_updated webhook (v1 names, even for v2 accounts) send them. ValueError on a bad balance."""
    account = account if isinstance(account, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    institution = account.get("institution") if isinstance(account.get("institution"), dict) else {}
    return AccountDetails(
        account_id=account_id,
        name=_text(account.get("name")),
        account_number=_text(account.get("account_number") or account.get("accountNumber")),
        currency=_text(account.get("currency")),
        balance=minor_units(account.get("balance")),
        type=_text(account.get("type")),
        institution=Institution(
            name=_text(institution.get("name")),
            bank_code=_text(institution.get("bank_code") or institution.get("bankCode")),
            type=_text(institution.get("type")),
        ),
        data_status=_text(meta.get("data_status")).upper(),
        auth_method=_text(meta.get("auth_method")),
    )


@dataclass(frozen=True)
class Deadline:
    """A point in time (monotonic clock) by which a call to Mono must have answered, retries included.

    A web request gets settings.MONO_REQUEST_DEADLINE, well under gunicorn's timeout; a background task
    gets settings.MONO_TASK_DEADLINE. Passed down as one object so every retry and wait draws on the
    same budget instead of each starting its own.
    """

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


@dataclass(frozen=True)
class ReauthToken:
    token: str
    issued_at: datetime

    def __repr__(self) -> str:  # never print a usable token
        return f"ReauthToken(token='…', issued_at={self.issued_at!r})"


class MonoError(Exception):
    """Base of every error talking to Mono. Messages are safe to show staff; never a key or token."""

    user_message = "We couldn't reach your bank's connection service. Please try again in a moment."

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class MonoAuthError(MonoError):
    """401/403: our secret key was refused. An operator problem, not the user's."""

    user_message = "Bank reconnection is temporarily unavailable. Our team has been notified."


class MonoNotFound(MonoError):
    user_message = "This bank connection no longer exists at Mono. Please link the account again."


class MonoCannotReauthorise(MonoError):
    """Mono says this account can not be re-authorised (it must be linked again)."""

    user_message = "This account can't be reconnected. Please unlink it and link it again."


class MonoRateLimited(MonoError):
    user_message = "Too many requests to the bank connection service. Please try again in a minute."

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after  # seconds Mono asked us to wait, when it said


class MonoUnavailable(MonoError):
    """5xx, timeouts and connection errors after retries."""


class MonoBadResponse(MonoError):
    """Mono answered with something that is not the JSON we expect (e.g. an HTML error page)."""


class MonoRequestError(MonoError):
    """Any other 4xx: our request was wrong."""


class MonoClientProtocol(Protocol):
    """Every call takes the caller's deadline; None means a background task's budget
    (settings.MONO_TASK_DEADLINE). Request paths always pass Deadline.after(MONO_REQUEST_DEADLINE)."""

    def exchange_code(self, code: str, *, deadline: Deadline | None = None) -> str:
        """Exchange the widget's one-time `code` for the Mono account id."""

    def reauthorise(self, account_id: str, *, deadline: Deadline | None = None) -> ReauthToken:
        """Mint a re-auth token (token mode; valid 10 minutes)."""

    def get_account(self, account_id: str, *, deadline: Deadline | None = None) -> AccountDetails:
        """Fetch and normalise the account's details."""

    def initiate_reauth(self, account_id: str, *, redirect_url: str, ref: str, deadline: Deadline | None = None) -> str:
        """Start re-auth on Mono's hosted page (v2 only): the `mono_url` to send the user to. `ref` must be
        fresh for every attempt (Mono refuses a reused one); `redirect_url` is where Mono sends the user back."""
