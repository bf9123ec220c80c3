"""Limits counted in the database, so every app server shares one count.

- "Forgot password?" (allow_password_reset): an address someone typed must not be mail-bombed, nor
  the mail server hammered. Two requests racing past the limit at the same instant can both pass:
  a brake, not a guarantee, and the window is an hour.
- Sign-in (SignInLockout): django-axes locks a username out from one address; this adds a limit
  per address across usernames, against password spraying.
- Calls to Mono a user's click causes (allow_mono_action): 30 Reconnect clicks in a second must not
  become 30 calls to Mono. Exact under races: one conditional UPDATE per request.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Q, Sum, Value, When
from django.utils import timezone

from .throttle_records import MonoActionWindow, PasswordResetRequest

KEEP = timedelta(days=1)


def _digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def allow_password_reset(*, email: str, ip: str | None) -> bool:
    """Record a reset request and say whether it may send, per email and per IP within the window.

    Counted whether or not a user has that email, so the answer tells nothing about who signed up.
    """
    limits = settings.PASSWORD_RESET_THROTTLE
    now = timezone.now()
    since = now - limits["window"]
    recent = PasswordResetRequest.objects.filter(requested_at__gte=since)
    digest = _digest(email)
    if recent.filter(email_digest=digest).count() >= limits["per_email"]:
        return False
    if ip and recent.filter(ip=ip).count() >= limits["per_ip"]:
        return False
    PasswordResetRequest.objects.filter(requested_at__lt=now - KEEP).delete()  # the table stays small
    PasswordResetRequest.objects.create(email_digest=digest, ip=ip, requested_at=now)
    return True


class SignInLockout(AxesDatabaseHandler):
    """django-axes' database handler, plus a limit per client address across usernames.

    axes counts wrong passwords per (username, address) pair, so 30 usernames with one guess each
    from one address never lock anything, and the right password for one of them then signs in.
    axes has one failure limit for all its lockout parameters, and a successful sign-in resets every
    group it counts (an "ip_address" group would let a sprayer clear the address's count by signing in
    to an account of their own). So the address's count is read here, as the sum of axes' own
    per-pair rows from that address within the cool-off, and locks the address out at
    SIGNIN_ADDRESS_FAILURE_LIMIT. A success resets only its own pair's row. Staff lift an address's
    lockout by deleting its rows in Axes > Access attempts.
    """

    def get_failures(self, request, credentials=None) -> int:
        """The failures that count against this request: the pair's own, or, once the address has used
        up its limit, the pair's limit. axes compares this one number both before the password is
        checked (a locked-out request never signs in) and after a failure (the lockout page)."""
        failures = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        if failures < limit and address_failures(request) >= settings.SIGNIN_ADDRESS_FAILURE_LIMIT:
            request.signin_address_locked = True  # the lockout page names the address, not the username
            return limit
        return failures


def address_failures(request) -> int:
    """Wrong passwords from the request's client address, for any username, within the cool-off."""
    ip = getattr(request, "axes_ip_address", None)
    if not ip:
        return 0
    recent = AccessAttempt.objects.filter(ip_address=ip, attempt_time__gte=get_cool_off_threshold(request))
    return recent.aggregate(total=Sum("failures_since_start"))["total"] or 0


# The Mono-bound actions a user's click causes, each limited in settings.MONO_ACTION_LIMITS.
RECONNECT = "reconnect"  # a re-auth token (token mode) or Mono's hosted re-auth page, per account
LINK = "link"  # a new link code exchanged, per user


class MonoActionLimited(Exception):
    """Too many Mono-bound actions in the window: the caller answers 429 with Retry-After."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        self.user_message = (
            "Too many tries in a short time. Nothing was sent to your bank: "
            f"wait {retry_after} seconds, then try again."
        )
        super().__init__(f"Mono action limit reached; retry in {retry_after} s")


def allow_mono_action(user, action: str, key: object = "") -> int | None:
    """Count one `action` (RECONNECT, LINK) by `user` on `key` (an account's id; nothing for a link)
    and say whether it may call Mono: None if so, else the seconds until it may.

    Counted in the database, not a cache: the app servers share only the database, and one
    conditional UPDATE both checks and counts, so racing requests cannot all slip under the limit
    (PostgreSQL re-checks the condition on the row each waiting UPDATE finally sees; SQLite runs
    writes one at a time). A fixed window opens at the first action and lasts `per_seconds`. A
    refused action is not counted. The web pages and the JSON API call this through the services.
    """
    limit = settings.MONO_ACTION_LIMITS[action]
    now = timezone.now()
    window = timedelta(seconds=limit["per_seconds"])
    name = f"{action}:{user.pk}:{key}"
    over = Q(window_started_at__lte=now - window)  # the window has ended: this action opens a new one
    for _ in range(2):
        counted = (
            MonoActionWindow.objects.filter(name=name)
            .filter(over | Q(count__lt=limit["calls"]))
            .update(
                count=Case(When(over, then=Value(1)), default=F("count") + 1),
                window_started_at=Case(
                    When(over, then=Value(now)), default=F("window_started_at"), output_field=DateTimeField()
                ),
            )
        )
        if counted:
            return None
        started = MonoActionWindow.objects.filter(name=name).values_list("window_started_at", flat=True).first()
        if started is not None:
            return max(1, math.ceil((started + window - now).total_seconds()))
        try:
            with transaction.atomic():  # a savepoint: a racing insert's IntegrityError leaves the caller's usable
                MonoActionWindow.objects.create(name=name, window_started_at=now, count=1)
            return None
        except IntegrityError:
            continue  # another request made the row first: count against it
    raise RuntimeError(f"could not count {name}")  # unreachable: the second pass finds the row


def limit_mono_action(user, action: str, key: object = "") -> None:
    """allow_mono_action for a service: MonoActionLimited when the action must wait."""
    retry_after = allow_mono_action(user, action, key)
    if retry_after is not None:
        raise MonoActionLimited(retry_after)
