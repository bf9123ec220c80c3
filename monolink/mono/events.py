"""Mono's webhook event names: the one place they are spelled (docs/mono.md, Mono's events).

Read by the webhook parser and handlers (webhooks.parsing, webhooks.handlers), the sandbox's payload
builders and `mono_trigger` (monolink.mono.payloads) and the delivery admin's event filter. It sits
in the lowest layer so every one of them can import it without importing each other.
"""

from __future__ import annotations

PREFIX = "mono.events."

CONNECTED = PREFIX + "account_connected"
REAUTHORISATION_REQUIRED = PREFIX + "reauthorisation_required"
REAUTHORIZED = PREFIX + "account_reauthorized"  # Mono's spelling, with a z
UPDATED = PREFIX + "account_updated"
SYNC_FAILED = PREFIX + "sync_failed"
UNLINKED = PREFIX + "account_unlinked"

# Every event we know, in the order staff read them in the admin's filter.
ALL = (CONNECTED, REAUTHORISATION_REQUIRED, REAUTHORIZED, UPDATED, SYNC_FAILED, UNLINKED)


def short(name: str) -> str:
    """'mono.events.account_updated' -> 'account_updated' (for lists and command lines)."""
    return name.removeprefix(PREFIX)


# What each event means, in the words staff use (the admin's lists, filters and pages).
PLAIN = {
    CONNECTED: "Bank linked",
    REAUTHORISATION_REQUIRED: "Bank asks to sign in again",
    REAUTHORIZED: "Reconnected",
    UPDATED: "Data updated",
    SYNC_FAILED: "Sync failed",
    UNLINKED: "Bank unlinked",
}


def label(name: str) -> str:
    """'mono.events.account_reauthorized' → 'Reconnected': what it means, for people to read; an event
    we do not know keeps Mono's name, spaced ('mono.events.new_thing' → 'new thing')."""
    return PLAIN.get(name) or short(name).replace("_", " ") or "(none)"
