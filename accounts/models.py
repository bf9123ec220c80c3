from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from .email_tracking import DeliveryStatus, EmailEvent  # noqa: F401  (EmailEvent: a model of this app)
from .throttle_records import MonoActionWindow, PasswordResetRequest  # noqa: F401  (models of this app)


class User(AbstractUser):
    """The project's user, custom from the first migration so it can grow without a rewrite."""

    # The newest reconnection the dashboard has told this user about ("Access Bank reconnected"),
    # so each notice shows once, on whichever device the user opens next.
    reconnections_seen_at = models.DateTimeField(null=True, blank=True)
    # Set when the email provider reports a hard bounce or a complaint for this address (written only
    # by notifications.delivery): no reminder goes there, staff see it, the dashboard asks the user to
    # check the address. Changing the address clears it.
    email_undeliverable_at = models.DateTimeField("can't be reached by email since", null=True, blank=True)
    email_undeliverable_reason = models.CharField("why email can't reach them", max_length=255, blank=True)

    class Meta(AbstractUser.Meta):
        indexes = [
            # The staff overview's count and the linked-account list's filter: only the marked few.
            models.Index(
                fields=["email_undeliverable_at"],
                name="user_email_undeliverable_idx",
                condition=models.Q(email_undeliverable_at__isnull=False),
            ),
        ]

    @property
    def email_reachable(self) -> bool:
        """No bounce or complaint marks the address: for one row (the reconciler filters on the same
        field, notifications.schedule.due_emails)."""
        return self.email_undeliverable_at is None


class LinkedAccountQuerySet(models.QuerySet):
    def for_user(self, user) -> LinkedAccountQuerySet:
        return self.filter(user=user)

    def linked(self) -> LinkedAccountQuerySet:
        return self.filter(unlinked_at__isnull=True)

    def flagged(self) -> LinkedAccountQuerySet:
        """Accounts whose bank wants the user again; an unlinked account never counts."""
        return self.linked().filter(reauth_required=True)

    def awaiting(self, now: datetime | None = None) -> LinkedAccountQuerySet:
        """Flagged accounts whose user finished the widget within the grace period: awaiting Mono's
        confirmation, so not sent back to the re-auth page meanwhile (LinkedAccount.is_awaiting)."""
        return self.flagged().filter(_awaiting_since(now))

    def in_display_order(self) -> LinkedAccountQuerySet:
        """How the dashboard and the app list a user's accounts: linked before unlinked (NULLs first
        on every database), flagged first among them (what needs the user leads), then by bank."""
        return self.order_by(
            models.F("unlinked_at").asc(nulls_first=True), "-reauth_required", "institution_name", "id"
        )

    def needing_user(self, now: datetime | None = None) -> LinkedAccountQuerySet:
        """Flagged accounts the user should be sent to fix: flagged and not awaiting confirmation."""
        return self.flagged().exclude(_awaiting_since(now))


def _awaiting_since(now: datetime | None) -> models.Q:
    """The grace-period rule, as a filter: the user finished the widget within REAUTH_GRACE_PERIOD."""
    return models.Q(reauth_submitted_at__gte=(now or timezone.now()) - settings.REAUTH_GRACE_PERIOD)


class LinkedAccount(models.Model):
    """One bank account linked through Mono. Re-auth and Mono-data fields are written only by reauth.state
    and reauth.credentials (linking.exchange creates the row)."""

    class State(models.TextChoices):
        OK = "ok", "OK"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        AWAITING = "awaiting", "Awaiting confirmation"
        UNLINKED = "unlinked", "Unlinked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="linked_accounts")
    mono_account_id = models.CharField("Mono account id", max_length=64, unique=True)
    institution_name = models.CharField("bank", max_length=128, blank=True)
    institution_type = models.CharField("bank type", max_length=64, blank=True)
    institution_bank_code = models.CharField("bank code", max_length=16, blank=True)
    account_name = models.CharField(max_length=255, blank=True)
    account_number_masked = models.CharField("number", max_length=32, blank=True)
    account_type = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    balance = models.BigIntegerField(null=True, blank=True, help_text="Minor units (kobo).")
    data_status = models.CharField(max_length=32, blank=True)
    auth_method = models.CharField(max_length=32, blank=True)

    reauth_required = models.BooleanField(default=False, db_index=True)
    # Never a usable token (staff and database dumps read this table): only a fingerprint of the last
    # token minted for the user's click (reauth.credentials.token_fingerprint), enough to match it with
    # Mono's logs. Null means none minted for the current flag.
    reauth_token_fingerprint = models.CharField(  # noqa: DJ001
        max_length=32,
        null=True,
        blank=True,
        help_text="Fingerprint (SHA-256 prefix) of the last re-auth token minted; never the token itself.",
    )
    reauth_token_issued_at = models.DateTimeField(
        "token issued", null=True, blank=True, help_text="When the last re-auth token was minted (it lives 10 minutes)."
    )
    reauth_requested_at = models.DateTimeField("flagged", null=True, blank=True)
    reauth_submitted_at = models.DateTimeField(
        "user finished the widget",
        null=True,
        blank=True,
        help_text="When the user last finished the widget; awaiting Mono's confirmation.",
    )
    reauth_completed_at = models.DateTimeField("reconnected", null=True, blank=True)
    # The latest Notification sent for the current flag (notifications.email.record_notification keeps it).
    reauth_notified_at = models.DateTimeField(
        "user emailed", null=True, blank=True, help_text="When the user was last emailed about the current flag."
    )
    unlinked_at = models.DateTimeField("unlinked", null=True, blank=True)
    # Mono's timestamp of the last re-auth state event applied (flag, re-authorised, unlinked):
    # an older event must not undo newer state.
    last_event_at = models.DateTimeField("last Mono event", null=True, blank=True)
    # Mono's timestamp of the account details stored, so a late account_updated cannot roll them back.
    details_as_of = models.DateTimeField("details as of", null=True, blank=True)
    # When we last received details from Mono or queued a fetch for them: the reconciler refreshes
    # an account once this is older than DETAILS_MAX_AGE (a lost refresh is retried the next day).
    # A database default, so bulk loads that name their columns (bench/) get one too.
    details_checked_at = models.DateTimeField(db_default=Now())

    created_at = models.DateTimeField("linked", auto_now_add=True)
    updated_at = models.DateTimeField("updated", auto_now=True)

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
            # The staff overview's flagged accounts by bank: an index-only scan of the flagged rows.
            models.Index(
                fields=["institution_name"],
                name="linkedaccount_flagged_bank_idx",
                condition=models.Q(reauth_required=True, unlinked_at__isnull=True),
            ),
            # Reconnections by time: /metrics counts a recent range of it (bench/metrics_scrape.py) and
            # the staff overview reads the latest ones with their flag times for the median (both
            # index-only scans, never the table).
            models.Index(
                fields=["reauth_completed_at", "reauth_requested_at"],
                name="linkedaccount_reconnected_idx",
                condition=models.Q(reauth_completed_at__isnull=False),
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
        return self.State.AWAITING if self.is_awaiting else self.State.NEEDS_REAUTH

    @property
    def is_flagged(self) -> bool:
        """The flagged() rule for one row: the bank wants the user again, and the link still exists."""
        return self.reauth_required and not self.unlinked_at

    @property
    def is_awaiting(self) -> bool:
        """The grace-period rule for one row (LinkedAccountQuerySet.awaiting is the same as a filter)."""
        grace_start = timezone.now() - settings.REAUTH_GRACE_PERIOD
        submitted = self.reauth_submitted_at
        return self.reauth_required and not self.unlinked_at and bool(submitted) and submitted >= grace_start


class LinkAttemptQuerySet(models.QuerySet):
    def for_user(self, user) -> LinkAttemptQuerySet:
        return self.filter(user=user)

    def on_dashboard(self, now: datetime | None = None) -> LinkAttemptQuerySet:
        """What the dashboard reports: every link still pending, and a recent failure that no newer
        attempt has superseded (trying again replaces the message instead of stacking them)."""
        since = (now or timezone.now()) - LINK_FAILURE_SHOWN_FOR
        newer = LinkAttempt.objects.filter(user=models.OuterRef("user"), created_at__gt=models.OuterRef("created_at"))
        pending = models.Q(status=LinkAttempt.Status.PENDING)
        failed = models.Q(status=LinkAttempt.Status.FAILED, created_at__gte=since) & ~models.Exists(newer)
        return self.filter(pending | failed).order_by("created_at", "id")


LINK_FAILURE_SHOWN_FOR = timedelta(days=1)


class LinkAttempt(models.Model):
    """One Connect widget `code` (from `setup()`), from the browser's post until Mono answered for it.

    Mono codes are single-use and short-lived (settings.MONO_LINK_CODE_LIFETIME). The unique
    code_hash decides which post exchanges a code; every other post of it answers from this row.
    The code itself is kept only while the attempt is pending (a retry needs it; exchanging it also
    needs our secret key) and cleared once Mono answered or the code expired. Written only by
    linking.exchange; the background task gets the attempt's id, never the code.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Linking"
        LINKED = "linked", "Linked"
        FAILED = "failed", "Failed"

    code_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the code.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="link_attempts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    institution_name = models.CharField(max_length=128, blank=True, help_text="The bank picked in the widget.")
    # Null once the attempt is over: never a usable code in a finished row, an admin page or a dump.
    code = models.CharField(max_length=512, null=True, blank=True)  # noqa: DJ001
    # Whoever exchanges the code holds this lease, so the request and the task never both call Mono.
    exchanging_until = models.DateTimeField(null=True, blank=True)
    mono_account_id = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=255, blank=True, help_text="What the user was told, when it failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LinkAttemptQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["user", "status"], name="linkattempt_user_status_idx"),
            # linking.exchange.expire_overdue_attempts, every minute: the few pending rows, not the table.
            models.Index(fields=["created_at"], name="linkattempt_pending_idx", condition=models.Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.bank_label} ({self.get_status_display().lower()})"

    @property
    def bank_label(self) -> str:
        return self.institution_name or "your bank"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + settings.MONO_LINK_CODE_LIFETIME

    def message(self, account: LinkedAccount | None = None) -> str:
        """The one sentence the dashboard and the status endpoint show for this attempt."""
        if self.status == self.Status.PENDING:
            return f"Linking {self.bank_label}…"
        if self.status == self.Status.LINKED:
            return f"Linked {account or self.bank_label}."
        return f"Couldn't link {self.bank_label}. {self.error}".strip()


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
    # What the email provider said since (notifications.delivery): its message id, to match its
    # tracking events, or our Message-ID header when sent by SMTP or the console (no provider id).
    message_id = models.CharField("message id", max_length=255, blank=True)
    delivery_status = models.CharField(
        "delivery", max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.SENT
    )
    delivery_status_at = models.DateTimeField("delivery status since", null=True, blank=True)
    delivery_reason = models.CharField("provider's reason", max_length=255, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "flagged_at", "step"], name="notification_once_per_step"),
        ]
        indexes = [
            models.Index(fields=["sent_at"], name="notification_sent_at_idx"),  # sent_counts(since)
            # A tracking event finds its email by the provider's message id.
            models.Index(fields=["message_id"], name="notification_message_id_idx", condition=~models.Q(message_id="")),
        ]

    def __str__(self) -> str:
        # Who got it, about which account: "First email to ada about GTBank ******4821".
        return f"{self.kind} to {self.account.user} about {self.account}"

    @property
    def kind(self) -> str:
        return "First email" if self.step == 0 else f"Reminder {self.step}"
