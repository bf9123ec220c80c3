"""One account's card on the re-auth page: its state, badge and sentence, from one place.

The page renders it, the status endpoint reports it and the completion endpoint answers with it, so
a card can never say "reconnected" beside a badge that says "waiting".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import LinkedAccount

from .notices import RECONNECTION_NOTICE_WINDOW


@dataclass(frozen=True)
class Card:
    account: LinkedAccount
    state: str  # "needs_reauth" | "awaiting" | "ok": what the page's script switches on
    badge: str
    text: str

    @property
    def id(self) -> int:
        return self.account.pk

    @property
    def bank(self) -> str:
        return self.account.institution_name or "Your bank"

    def as_json(self) -> dict:
        return {"id": self.id, "bank": self.bank, "state": self.state, "badge": self.badge, "text": self.text}


def reauth_card(account: LinkedAccount, *, returned: bool = False) -> Card:
    """One account's card, as the page renders it and the status endpoint reports it.

    `returned`: the user is back from Mono's hosted page; until Mono confirms, that account is
    "waiting" (the user did their part) rather than "needs_reauth".
    """
    bank = account.institution_name or "Your bank"
    state = account.state
    if state == LinkedAccount.State.UNLINKED:
        return Card(account, "ok", "Unlinked", f"{bank} {account.account_number_masked} was unlinked: nothing to do.")
    if state == LinkedAccount.State.OK:
        return Card(account, "ok", "Reconnected", f"{bank} reconnected. Fresh data is on its way.")
    if state == LinkedAccount.State.AWAITING or returned:
        return Card(account, "awaiting", "Waiting for your bank", "Waiting for your bank's confirmation…")
    since = account.reauth_requested_at
    when = f" on {date_format(timezone.localtime(since), 'j M Y, H:i')}" if since else ""
    return Card(account, "needs_reauth", "Needs reconnecting", f"Your bank asked you to sign in again{when}.")


def app_state(account: LinkedAccount) -> str:
    """The state an app shows for one account: LinkedAccount.state, with "reconnected" for an account
    whose flag cleared within the dashboard's notice window (the same week the web says so)."""
    state = account.state
    completed = account.reauth_completed_at
    if state == LinkedAccount.State.OK and completed and completed > timezone.now() - RECONNECTION_NOTICE_WINDOW:
        return "reconnected"
    return str(state)


@dataclass(frozen=True)
class Summary:
    """What needs the user now, for an app's launch screen: the same rules as the sign-in redirect."""

    needs_user: list[LinkedAccount]
    awaiting: list[LinkedAccount]
    reconnected: list[LinkedAccount]


def summarise(accounts: list[LinkedAccount]) -> Summary:
    states = [(account, app_state(account)) for account in accounts]
    return Summary(
        needs_user=[a for a, s in states if s == LinkedAccount.State.NEEDS_REAUTH],
        awaiting=[a for a, s in states if s == LinkedAccount.State.AWAITING],
        reconnected=[a for a, s in states if s == "reconnected"],
    )
