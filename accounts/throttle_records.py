"""The throttles' own rows (accounts.throttles): in the database, so every app server counts alike.
Registered with the accounts app through accounts.models."""

from django.db import models
from django.utils import timezone


class PasswordResetRequest(models.Model):
    """One "forgot password" request, kept a day for the throttle (accounts.throttles): in the
    database, so every app server counts the same requests. The email is stored as a digest only."""

    email_digest = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["email_digest", "requested_at"], name="pwreset_email_idx"),
            models.Index(fields=["ip", "requested_at"], name="pwreset_ip_idx"),
            models.Index(fields=["requested_at"], name="pwreset_requested_idx"),
        ]

    def __str__(self) -> str:
        return f"password reset request at {self.requested_at:%Y-%m-%d %H:%M}"


class MonoActionWindow(models.Model):
    """How often one user asked for one Mono-bound action (a re-auth token for an account, Mono's hosted
    page, a link code exchanged) in the current window: accounts.throttles.allow_mono_action.

    One row per user, action and key, reused window after window, updated by one conditional UPDATE
    (so racing requests on every app server share one exact count) and never holding a lock across
    the call to Mono.
    """

    name = models.CharField(max_length=128, unique=True, help_text="action:user id:key")
    window_started_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.count} since {self.window_started_at:%H:%M:%S}"
