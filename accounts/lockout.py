"""Sign-in lockouts: django-axes counts wrong passwords per username and address (settings.AXES_*).
Two rules on top of its count, read by the sign-in page and the password-reset flow."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_failure_limit
from axes.utils import reset
from django.http import HttpRequest


def sign_in_tries_left(request: HttpRequest, *, username: str) -> int:
    """Wrong passwords this username may still give from this address before the lockout."""
    credentials = {"username": username}
    return max(get_failure_limit(request, credentials) - AxesProxyHandler.get_failures(request, credentials), 0)


def lift_sign_in_lockout(*, username: str) -> int:
    """A completed password reset proved the owner holds the account's email: the wrong passwords
    counted against the username (from every address) must not lock them out of the new password.
    Returns how many attempt records were removed."""
    return reset(username=username)
