"""Error reporting to Sentry (sentry-sdk's Django integration), on only when SENTRY_DSN is set.

`scrub` is the before_send hook: an event leaves the process only after it. It removes what must
never reach a third party: the webhook secret (Mono's header *is* the credential), Mono keys, re-auth
tokens, password-reset links, passwords, session and CSRF cookies, stack-frame variables, and
personal data (emails, names, account numbers, balances, request bodies: a webhook body is a
customer's bank account). What stays: the exception
type, the stack (file, line, function), the request's method and path, the request id, and the user's
numeric id, which is what it takes to find the bug and the log lines.
"""

from __future__ import annotations

import re
from typing import Any

from monolink.logs import redact

FILTERED = "[Filtered]"
# A key that names one of these holds a credential or personal data, whatever its value looks like.
_SENSITIVE_KEY = re.compile(
    r"secret|passw|token|key|auth|cookie|session|csrf|code|email|phone|name|account_?number|balance|bvn|body",
    re.IGNORECASE,
)
# Values that give themselves away even under an innocent key (a local variable called `value`).
_SENSITIVE_VALUE = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"  # an email address
    r"|(?:test|live)_(?:sk|pk)_[A-Za-z0-9]+"  # a Mono key
    r"|\b\d{10}\b"  # a NUBAN account number
    r"|/reset/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+"  # a password-reset link: uid and one-time token
)
# Where keys are chosen by our code or by the sender rather than by Sentry's schema.
_KEYED_CONTAINERS = frozenset({"vars", "headers", "extra", "data", "tags"})
# What the Django integration may record about a request beyond method, URL and headers.
_DROPPED_REQUEST_PARTS = ("data", "cookies", "query_string", "env")


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """before_send: return the event with every secret and personal value replaced."""
    request = event.get("request")
    if isinstance(request, dict):
        for part in _DROPPED_REQUEST_PARTS:
            if part in request:
                request[part] = FILTERED
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for frame in _frames(event):
        # Frame variables hold whole values no pattern can vouch for (smtplib's `msg` is the reset
        # email, link included): init() turns them off, and an event built elsewhere loses them here.
        frame.pop("vars", None)
    return _clean(event)


def _frames(event: dict[str, Any]) -> list[dict]:
    values = [
        *((event.get("exception") or {}).get("values") or []),
        *((event.get("threads") or {}).get("values") or []),
    ]
    stacks = [value.get("stacktrace") for value in values if isinstance(value, dict)] + [event.get("stacktrace")]
    return [frame for stack in stacks if isinstance(stack, dict) for frame in stack.get("frames") or []]


def _clean(value: Any, *, by_key: bool = False, key: str = "") -> Any:
    """Every string loses secret and personal values; inside containers whose keys are ours or the
    sender's (stack-frame variables, headers, extra, breadcrumb data) a sensitive key hides its value."""
    if by_key and key and _SENSITIVE_KEY.search(key) and not isinstance(value, dict | list):
        return FILTERED if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: _clean(v, by_key=by_key or k in _KEYED_CONTAINERS, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Headers can come as [name, value] pairs: judge the value by the name.
        if by_key and len(value) == 2 and isinstance(value[0], str) and _SENSITIVE_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [_clean(v, by_key=by_key) for v in value]
    if isinstance(value, str):
        return _SENSITIVE_VALUE.sub(FILTERED, redact(value))
    return value


def init(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration()],  # + the default logging one: log.exception lines become events
        # No user identity, request bodies (a webhook body is a customer's bank account), SQL
        # parameters or frame variables (a failed reset email's frame holds its live link) from the
        # SDK itself; the stack, lines and source context stay.
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        traces_sample_rate=traces_sample_rate,
        before_send=scrub,
        before_send_transaction=scrub,
        before_breadcrumb=lambda crumb, hint: _clean(crumb),  # breadcrumbs are log lines and SQL
    )
