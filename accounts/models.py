from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class User(AbstractUser):
    """The project's user, custom from the first migration so it can grow without a rewrite."""


class LinkedAccountQuerySet(models.QuerySet):
    def for_user(self, user) -> LinkedAccountQuerySet:
        return self.filter(user=user)

    def linked(self) -> LinkedAccountQuerySet:
        return self.filter(unlinked_at__isnull=True)

    def flagged(self) -> LinkedAccountQuerySet:
        """Accounts whose bank wants the user again; an unlinked account never counts."""
        return self.linked().filter(reauth_required=True)

    def needing_user(self, now: datetime | None = None) -> LinkedAccountQuerySet:
        """Flagged accounts the user should be sent to fix: not inside the post-widget grace period."""
        now = now or timezone.now()
        grace_start = now - settings.REAUTH_GRACE_PERIOD
        return self.flagged().exclude(reauth_submitted_at__gte=grace_start)


class LinkedAccount(models.Model):
    """One bank account linked through Mono. Re-auth fields are written only by accounts.rules."""

    class State(models.TextChoices):
        OK = "ok", "OK"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        AWAITING = "awaiting", "Awaiting confirmation"
        UNLINKED = "unlinked", "Unlinked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="linked_accounts")
    mono_account_id = models.CharField(max_length=64, unique=True)
    institution_name = models.CharField(max_length=128, blank=True)
    institution_type = models.CharField(max_length=64, blank=True)
    institution_bank_code = models.CharField(max_length=16, blank=True)
    account_name = models.CharField(max_length=255, blank=True)
    account_number_masked = models.CharField(max_length=32, blank=True)
    account_type = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    balance = models.BigIntegerField(null=True, blank=True, help_text="Minor units (kobo).")
    data_status = models.CharField(max_length=32, blank=True)
    auth_method = models.CharField(max_length=32, blank=True)

    reauth_required = models.BooleanField(default=False, db_index=True)
    # Null, not "", means "no token" (DESIGN.md): a blank string is never a credential.
    reauth_code = models.CharField(max_length=512, null=True, blank=True, help_text="Latest re-auth token.")  # noqa: DJ001
    reauth_code_issued_at = models.DateTimeField(null=True, blank=True)
    reauth_requested_at = models.DateTimeField(null=True, blank=True)
    reauth_submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the user last finished the widget; awaiting Mono's confirmation."
    )
    reauth_completed_at = models.DateTimeField(null=True, blank=True)
    # The latest Notification sent for the current flag (accounts.rules.record_notification keeps it).
    reauth_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the user was last emailed about the current flag."
    )
    unlinked_at = models.DateTimeField(null=True, blank=True)
    # Mono's timestamp of the last re-auth state event applied (flag, re-authorised, unlinked):
    # an older event must not undo newer state.
    last_event_at = models.DateTimeField(null=True, blank=True)
    # Mono's timestamp of the account details stored, so a late account_updated cannot roll them back.
    details_as_of = models.DateTimeField(null=True, blank=True)
    # When we last received details from Mono or queued a fetch for them: the reconciler refreshes
    # an account once this is older than DETAILS_MAX_AGE (a lost refresh is retried the next day).
    # A database default, so bulk loads that name their columns (bench/) get one too.
    details_checked_at = models.DateTimeField(db_default=Now())

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LinkedAccountQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The admin's flagged list and the sign-in check: flagged, still linked, newest first.
            models.Index(
                fields=["-reauth_requested_at"],
                name="linkedaccount_flagged_idx",
                condition=models.Q(reauth_required=True, unlinked_at__isnull=True),
            ),
            models.Index(fields=["user", "reauth_required"], name="linkedaccount_user_flag_idx"),
            # The admin's "awaiting confirmation" count and filter (bench/admin_lists.py: 15 ms -> 0.2 ms at 1M).
            models.Index(
                fields=["reauth_submitted_at"],
                name="linkedaccount_awaiting_idx",
                condition=models.Q(reauth_required=True, unlinked_at__isnull=True),
            ),
            # The admin's data-status filter on a rare value such as FAILED (121 ms -> 1.3 ms at 1M).
            models.Index(fields=["data_status"], name="linkedaccount_data_status_idx"),
            # The reconciler's oldest-details-first batch of refreshes.
            models.Index(
                fields=["details_checked_at"],
                name="linkedaccount_details_due_idx",
                condition=models.Q(unlinked_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        label = self.institution_name or "Bank account"
        return f"{label} {self.account_number_masked}".strip()

    @property
    def state(self) -> LinkedAccount.State:
        if self.unlinked_at:
            return self.State.UNLINKED
        if not self.reauth_required:
            return self.State.OK
        if self.reauth_submitted_at and self.reauth_submitted_at >= timezone.now() - settings.REAUTH_GRACE_PERIOD:
            return self.State.AWAITING
        return self.State.NEEDS_REAUTH

    @property
    def reauth_code_masked(self) -> str:
        """What staff may see of a token: enough to tell two apart, never enough to use one."""
        if not self.reauth_code:
            return ""
        return f"…{self.reauth_code[-4:]}" if len(self.reauth_code) > 12 else "••••"


class ExchangedCode(models.Model):
    """A Connect widget `code` we already exchanged. Mono codes are single-use, so a second post of
    the same code (double click, retried fetch) must answer from here instead of asking Mono again."""

    code_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the code; never the code.")
    mono_account_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"code …{self.code_hash[-6:]} → {self.mono_account_id}"


class Notification(models.Model):
    """One email sent to a user about a broken link: the first (step 0) or a reminder (1, 2, …).

    A flag is identified by its account's `reauth_requested_at`; the unique constraint makes each
    step of each flag be recorded once, whatever several workers or a rerun after a kill do.
    """

    account = models.ForeignKey(LinkedAccount, on_delete=models.CASCADE, related_name="notifications")
    flagged_at = models.DateTimeField(help_text="The flag this email was about (the account's reauth_requested_at).")
    step = models.PositiveSmallIntegerField(help_text="0: the first email; 1, 2, …: reminders.")
    sent_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "flagged_at", "step"], name="notification_once_per_step"),
        ]
        indexes = [models.Index(fields=["sent_at"], name="notification_sent_at_idx")]  # sent_counts(since)

    def __str__(self) -> str:
        return f"{self.kind} for account {self.account_id}"

    @property
    def kind(self) -> str:
        return "First email" if self.step == 0 else f"Reminder {self.step}"
