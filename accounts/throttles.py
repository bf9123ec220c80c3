"""Limits on requests that send email to an address someone typed: a "forgot password" form would
otherwise let anyone mail-bomb an inbox or hammer the mail server.

Counted in the database (PasswordResetRequest), so several app servers share one count. Two
requests racing past the limit at the same instant can both pass: a throttle is a brake, not a
guarantee, and the window is an hour.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import PasswordResetRequest

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
