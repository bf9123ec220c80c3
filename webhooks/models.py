from django.db import models


class WebhookEventQuerySet(models.QuerySet):
    def problems_since(self, since) -> "WebhookEventQuerySet":
        """Failed or invalid deliveries received since `since`: what staff must look at (the
        (status, received_at) index answers it)."""
        return self.filter(status__in=WebhookEvent.PROBLEM_STATUSES, received_at__gte=since)


class WebhookEvent(models.Model):
    """One row per distinct Mono delivery: the log staff read and the dedupe guard.

    The unique `dedupe_key` is what makes the effect exactly-once across processes: Mono's
    `event_id` when it sends one, otherwise a hash of the raw body.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored"
        UNMATCHED = "unmatched", "Unmatched"
        FAILED = "failed", "Failed"
        INVALID = "invalid", "Invalid"

    # What staff count as a failed delivery: a handler fault, or a body we could not read.
    PROBLEM_STATUSES = (Status.FAILED, Status.INVALID)

    event = models.CharField(max_length=128, blank=True)
    mono_account_id = models.CharField(max_length=64, blank=True, db_index=True)
    event_id = models.CharField(max_length=128, blank=True)
    dedupe_key = models.CharField(max_length=128, unique=True)
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="Mono's timestamp, when sent.")
    body = models.TextField(help_text="The raw body as received.")
    headers = models.JSONField(default=dict, help_text="Received headers with the webhook secret removed.")
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="webhookevent_status_idx"),
            models.Index(fields=["event", "-received_at"], name="webhookevent_event_idx"),
            models.Index(fields=["event_id"], name="webhookevent_event_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event or '(no event)'} #{self.pk}"


class DailyEventCount(models.Model):
    """How many deliveries of one event arrived on one day (the site's local day), up to an instant.

    The staff overview's per-day chart reads these instead of re-counting a month of the delivery log
    on every view (a million rows at scale): `count` covers deliveries received before
    `counted_until` (the day's end once the day is over). Filled and advanced by webhooks.overview.
    """

    day = models.DateField()
    event = models.CharField(max_length=128)
    count = models.PositiveIntegerField()
    counted_until = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "event"], name="dailyeventcount_day_event_uniq")]

    def __str__(self) -> str:
        return f"{self.day} {self.event}: {self.count}"
