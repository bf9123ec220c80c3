"""The sandbox: Mono's interface with no network, the embedded default when no secret key is set.

Stateless across processes (several app servers may serve one user's flow): the widget's one-time
codes and the re-auth tokens are signed values (django.core.signing, salted, timestamped) that
carry the account id, and account details are derived from the account id, so a refresh on any
server gives the same answer.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from .types import AccountDetails, Deadline, Institution, MonoNotFound, MonoRequestError, ReauthToken

CODE_SALT = "monolink.mono.sandbox.code"
TOKEN_SALT = "monolink.mono.sandbox.reauth-token"  # noqa: S105 (a salt, not a secret)
HOSTED_SALT = "monolink.mono.sandbox.hosted-reauth"
HOSTED_MAX_AGE_SECONDS = 30 * 60  # how long a hosted re-auth link works
CODE_MAX_AGE_SECONDS = 10 * 60  # Mono's widget codes are short-lived too
ACCOUNT_ID_RE = re.compile(r"^[0-9a-f]{24}$")  # Mono account ids are MongoDB ObjectIds


@dataclass(frozen=True)
class SandboxBank:
    name: str
    bank_code: str
    type: str = "PERSONAL_BANKING"


BANKS: tuple[SandboxBank, ...] = (
    SandboxBank("GTBank", "058"),
    SandboxBank("Access Bank", "044"),
    SandboxBank("Zenith Bank", "057"),
    SandboxBank("First Bank of Nigeria", "011"),
    SandboxBank("United Bank for Africa", "033"),
    SandboxBank("Kuda Bank", "50211"),
)
BANKS_BY_CODE = {bank.bank_code: bank for bank in BANKS}
_NAMES = ("ADA OKAFOR", "BOLA ADEYEMI", "CHIDI NWOSU", "FUNKE BALOGUN", "IFEOMA EZE", "TUNDE BAKARE")


def is_account_id(value: object) -> bool:
    return isinstance(value, str) and bool(ACCOUNT_ID_RE.match(value))


def bank_for(account_id: str) -> SandboxBank:
    """The bank is encoded in the id's last byte, so the bank picked in the widget sticks."""
    return BANKS[int(account_id[-2:], 16) % len(BANKS)]


def new_account_id(bank_code: str) -> str:
    """A fresh ObjectId-looking id (timestamp first, like Mono's) whose last byte names the bank."""
    index = [bank.bank_code for bank in BANKS].index(bank_code)
    last = secrets.choice([v for v in range(256) if v % len(BANKS) == index])
    return f"{int(time.time()):08x}{secrets.token_hex(7)}{last:02x}"


def sandbox_details(account_id: str) -> AccountDetails:
    """Plausible, stable details for any account id (also non-sandbox ids, for mono_trigger)."""
    digest = hashlib.sha256(account_id.encode()).digest()
    bank = bank_for(account_id) if is_account_id(account_id) else BANKS[digest[0] % len(BANKS)]
    number = str(int.from_bytes(digest[1:9], "big") % 10**10).zfill(10)
    balance = int.from_bytes(digest[9:13], "big") % 5_000_000_00  # up to ₦5m, in kobo
    return AccountDetails(
        account_id=account_id,
        name=_NAMES[digest[13] % len(_NAMES)],
        account_number=number,
        currency="NGN",
        balance=balance,
        type="SAVINGS_ACCOUNT" if digest[14] % 2 else "CURRENT_ACCOUNT",
        institution=Institution(name=bank.name, bank_code=bank.bank_code, type=bank.type),
        data_status="AVAILABLE",
        auth_method="internet_banking",
    )


def issue_code(account_id: str) -> str:
    """The one-time `code` the sandbox widget hands to onSuccess (what Mono's widget does)."""
    return _sign(account_id, salt=CODE_SALT)


def _sign(account_id: str, *, salt: str, **extra: str) -> str:
    # The nonce makes every code and token distinct, even two for one account in the same second.
    return signing.dumps({"a": account_id, "n": secrets.token_hex(4), **extra}, salt=salt, compress=False)


@dataclass(frozen=True)
class HostedSession:
    """What a sandbox hosted re-auth link carries (signed into its URL): no server-side state."""

    account_id: str
    redirect_url: str
    ref: str


def load_hosted_session(value: str) -> HostedSession:
    """The session behind a sandbox hosted re-auth link; expired, tampered or foreign → MonoRequestError."""
    payload = _load_payload(value, salt=HOSTED_SALT, max_age=HOSTED_MAX_AGE_SECONDS, what="re-auth link")
    redirect_url, ref = payload.get("r"), payload.get("ref")
    if not isinstance(redirect_url, str) or not isinstance(ref, str):
        raise MonoRequestError("The re-auth link is not valid.", status=400)
    return HostedSession(account_id=payload["a"], redirect_url=redirect_url, ref=ref)


def verify_reauth_token(token: str) -> str:
    """The account id a sandbox re-auth token was minted for; expired or foreign → MonoRequestError."""
    max_age = settings.MONO_REAUTH_TOKEN_LIFETIME.total_seconds()
    return _load(token, salt=TOKEN_SALT, max_age=max_age, what="re-auth token")


def _load(value: str, *, salt: str, max_age: float, what: str) -> str:
    return _load_payload(value, salt=salt, max_age=max_age, what=what)["a"]


def _load_payload(value: str, *, salt: str, max_age: float, what: str) -> dict:
    if not isinstance(value, str) or not value or len(value) > 500:
        raise MonoRequestError(f"The {what} is missing or malformed.", status=400)
    try:
        payload = signing.loads(value, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise MonoRequestError(f"The {what} has expired.", status=400) from None
    except signing.BadSignature:
        raise MonoRequestError(f"The {what} is not valid.", status=400) from None
    account_id = payload.get("a") if isinstance(payload, dict) else None
    if not is_account_id(account_id):
        raise MonoRequestError(f"The {what} is not valid.", status=400)
    return payload


def _require_account(account_id: str) -> str:
    if not is_account_id(account_id):
        raise MonoNotFound(f"Sandbox: no account {str(account_id)[:40]!r} (ids are 24 hex characters).", status=404)
    return account_id


class SandboxClient:
    """Same interface as MonoClient; see the module docstring. Answers at once, so deadlines are moot."""

    def exchange_code(self, code: str, *, deadline: Deadline | None = None) -> str:
        return _load(code, salt=CODE_SALT, max_age=CODE_MAX_AGE_SECONDS, what="widget code")

    def reauthorise(self, account_id: str, *, deadline: Deadline | None = None) -> ReauthToken:
        _require_account(account_id)
        return ReauthToken(token=_sign(account_id, salt=TOKEN_SALT), issued_at=timezone.now())

    def get_account(self, account_id: str, *, deadline: Deadline | None = None) -> AccountDetails:
        return sandbox_details(_require_account(account_id))

    def initiate_reauth(self, account_id: str, *, redirect_url: str, ref: str, deadline: Deadline | None = None) -> str:
        """The sandbox's stand-in for Mono's hosted page: /sandbox/hosted/<signed session>/ on SITE_URL."""
        _require_account(account_id)
        if not isinstance(redirect_url, str) or not redirect_url.startswith(("https://", "http://")):
            raise MonoRequestError("The redirect URL must be an absolute http(s) URL.", status=400)
        if not isinstance(ref, str) or not ref.strip():
            raise MonoRequestError("A re-auth attempt needs a reference (meta.ref).", status=400)
        session = _sign(account_id, salt=HOSTED_SALT, r=redirect_url, ref=ref)
        return settings.SITE_URL + reverse("sandbox:hosted", args=[session])

    def __repr__(self) -> str:
        return "SandboxClient()"
