"""What the email provider told us about the emails we sent: its tracking events, kept once, and
the statuses they give an email (accounts.models.Notification.delivery_status). A module of its own
so accounts/models.py stays one screenful of the re-auth data; Django finds the model through it.
"""

from __future__ import annotations

from django.db import models


class DeliveryStatus(models.TextChoices):
    """What became of an email, from the provider's tracking events (anymail's event types, folded)."""

    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Delayed (soft bounce)"
    DELIVERED = "delivered", "Delivered"
    REJECTED = "rejected", "Rejected by the provider"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Marked as spam"


class EmailEvent(models.Model):
    """One tracking event from the email provider, kept once: the unique (provider, event id, recipient) makes a
    provider's retry of the same event change nothing, as WebhookEvent's dedupe_key does for Mono.

    `event_id` is the provider's own id for the event, or a hash of the event when it sends none
    (Postmark's deliveries). Written only by notifications.delivery.record_tracking_event.
    """

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=32, help_text="anymail's normalised event type.")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, blank=True, help_text="What it means for the email, if anything."
    )
    message_id = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=254, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    notification = models.ForeignKey(
        "accounts.Notification", null=True, blank=True, on_delete=models.SET_NULL, related_name="tracking_events"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # Staff's exact searches: everything the provider said about one address or one email.
            models.Index(fields=["recipient"], name="emailevent_recipient_idx"),
            models.Index(fields=["message_id"], name="emailevent_message_id_idx"),
        ]
        constraints = [
            # SES sends one notification (one id) for all of a message's recipients: one row each.
            models.UniqueConstraint(
                fields=["provider", "event_id", "recipient"], name="emailevent_once_per_provider_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} #{self.pk}"
