"""Re-auth credentials: what the user's click hands to Mono's widget, and Mono's hosted page.

Account mode (connect.js and the mobile SDKs from 2.1) passes the Mono account id; token mode mints
a token at the click (it lives 10 minutes) and keeps only its fingerprint. The web page and the API
both call these, so a credential is minted the same way whichever front end asks.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import LinkedAccount
from accounts.throttles import RECONNECT, limit_mono_action
from monolink.mono import Deadline, ReauthToken, get_client

from .state import Change, locked_account


def token_fingerprint(token: str) -> str:
    """What we keep of a re-auth token: a SHA-256 prefix, enough to match it with Mono's logs, never
    enough to use it (a token is high-entropy, so the prefix cannot be turned back into one)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


@transaction.atomic
def store_reauth_token(*, mono_account_id: str, token: str, issued_at: datetime) -> Change:
    """Record that a token was minted: its fingerprint and when, never the token itself."""
    account = locked_account(mono_account_id)
    if not account.reauth_required or account.unlinked_at:
        return Change.IGNORED  # re-authorised meanwhile
    if account.reauth_token_issued_at and account.reauth_token_issued_at > issued_at:
        return Change.STALE
    account.reauth_token_fingerprint = token_fingerprint(token)
    account.reauth_token_issued_at = issued_at
    account.save(update_fields=["reauth_token_fingerprint", "reauth_token_issued_at", "updated_at"])
    return Change.APPLIED


def _mint(mono_account_id: str, deadline: Deadline | None) -> tuple[ReauthToken, Change]:
    # Network first, then a short transaction: no row lock is held while Mono thinks.
    minted = get_client().reauthorise(mono_account_id, deadline=deadline)
    change = store_reauth_token(mono_account_id=mono_account_id, token=minted.token, issued_at=minted.issued_at)
    return minted, change


@dataclass(frozen=True)
class Credential:
    """What a Connect widget or SDK needs to open one account in re-auth scope."""

    mode: str  # "account" (SDKs from 2.1: the Mono account id) or "token" (older builds)
    value: str  # the Mono account id, or a re-auth token minted now
    expires_at: datetime | None  # a token's end of life; an account id does not expire


def issue_credential(*, user, account_id: int, deadline: Deadline) -> Credential:
    """The credential for one of the user's flagged accounts, in the mode the deployment uses.

    Account mode (connect.js and the mobile SDKs from 2.1) passes the Mono account id: no call to Mono.
    Token mode mints a token now, at the click (it lives 10 minutes, so one minted earlier may be dead
    by the time the user clicks), within the request's deadline; MonoError propagates for the view to
    word. LinkedAccount.DoesNotExist when the account is not this user's or no longer flagged;
    MonoActionLimited after too many tokens for it in a minute (Mono is not called).
    """
    account = LinkedAccount.objects.for_user(user).flagged().get(pk=account_id)
    if settings.MONO_REAUTH_MODE == "account":
        return Credential(mode="account", value=account.mono_account_id, expires_at=None)
    limit_mono_action(user, RECONNECT, account.pk)
    minted, _change = _mint(account.mono_account_id, deadline)
    expires_at = minted.issued_at + settings.MONO_REAUTH_TOKEN_LIFETIME
    return Credential(mode="token", value=minted.token, expires_at=expires_at)


def reauth_credential(*, user, account_id: int, deadline: Deadline) -> str:
    """What the web page's click passes to `connect.reauthorise(...)` (issue_credential's value)."""
    return issue_credential(user=user, account_id=account_id, deadline=deadline).value


def widget_public_key() -> str:
    """The public key the widget or SDK opens with. The sandbox widget accepts any key; Connect itself
    refuses an empty one."""
    return settings.MONO_PUBLIC_KEY or ("test_pk_sandbox" if settings.MONO_SANDBOX else "")


def hosted_reauth_available() -> bool:
    """Mono's hosted re-auth page exists only in the v2 API (POST /v2/accounts/initiate)."""
    return settings.MONO_API_VERSION == "v2"


def start_hosted_reauth(*, user, account_id: int, redirect_url: str, deadline: Deadline) -> str:
    """Ask Mono for its hosted re-auth page for one of the user's flagged accounts: the URL to send them to.

    Each attempt gets a fresh `meta.ref` (Mono refuses a reused one). Nothing is stored: the URL is a
    way into the user's bank connection, so it goes to the user's browser and nowhere else.
    MonoActionLimited after too many Reconnects of the account in a minute (shared with the tokens).
    """
    account = LinkedAccount.objects.for_user(user).flagged().get(pk=account_id)
    limit_mono_action(user, RECONNECT, account.pk)
    ref = f"monolink-reauth-{secrets.token_hex(12)}"
    return get_client().initiate_reauth(account.mono_account_id, redirect_url=redirect_url, ref=ref, deadline=deadline)


@transaction.atomic
def record_reauth_attempt(*, user, account_id: int) -> LinkedAccount:
    """The widget reported success: wait for Mono's confirmation without nagging the user meanwhile."""
    account = LinkedAccount.objects.select_for_update().for_user(user).flagged().get(pk=account_id)
    account.reauth_submitted_at = timezone.now()
    account.save(update_fields=["reauth_submitted_at", "updated_at"])
    return account


def finish_reauth(*, user, account_id: int) -> LinkedAccount:
    """The widget or SDK reported success (with or without a code: some builds send none): remember it
    and wait for Mono's webhook. If Mono's account_reauthorized beat the app here, that is success
    too. LinkedAccount.DoesNotExist when the account is not this user's, or still flagged yet not
    recordable (unlinked).
    """
    try:
        return record_reauth_attempt(user=user, account_id=account_id)
    except LinkedAccount.DoesNotExist:
        account = LinkedAccount.objects.for_user(user).linked().filter(pk=account_id).first()
        if account is None or account.reauth_required:
            raise
        return account
