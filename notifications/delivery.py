"""What became of the emails we sent: the provider's tracking events, and who email can't reach.

`record_tracking_event` is the one service behind anymail's tracking webhook (notifications.receivers
hands it each event): the event is kept once (a unique constraint, so a provider's retry changes
nothing, whichever server gets it first), its email's delivery status moves on, and a hard bounce or
a spam complaint marks the address's users "can't be reached by email". That mark stops reminders
(notifications.schedule.due_emails and notifications.email skip such users), shows in staff's admin
and asks the user, on the dashboard, to check their address; `address_changed` lifts it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from enum import StrEnum

from anymail.signals import AnymailTrackingEvent, EventType
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import DeliveryStatus, EmailEvent, Notification

log = logging.getLogger(__name__)

# anymail's event types that say something about an email's delivery; the rest (opened, clicked,
# queued, sent...) are kept as events but change no status.
_STATUS = {
    EventType.DEFERRED: DeliveryStatus.DEFERRED,
    EventType.DELIVERED: DeliveryStatus.DELIVERED,
    EventType.REJECTED: DeliveryStatus.REJECTED,
    EventType.BOUNCED: DeliveryStatus.BOUNCED,
    EventType.COMPLAINED: DeliveryStatus.COMPLAINED,
}
# A status only moves forward: a late "delayed" never hides a delivery, nor a delivery a bounce.
_RANK = {
    DeliveryStatus.SENT: 0,
    DeliveryStatus.DEFERRED: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.REJECTED: 3,
    DeliveryStatus.BOUNCED: 3,
    DeliveryStatus.COMPLAINED: 4,
}
# The statuses that mean the address itself does not take our email.
UNREACHABLE = (DeliveryStatus.BOUNCED, DeliveryStatus.COMPLAINED)


class Recorded(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"


def delivery_status(event: AnymailTrackingEvent) -> DeliveryStatus | None:
    """The event's meaning for its email. Written by hand for one gap: anymail reports some soft
    (temporary) bounces as "bounced" (SES's Transient and Undetermined, Postmark's SoftBounce, SendGrid's
    "blocked"); only a permanent one may stop our emails, so those count as delayed."""
    status = _STATUS.get(event.event_type)
    if status is DeliveryStatus.BOUNCED and not _permanent(event.esp_event):
        return DeliveryStatus.DEFERRED
    return status


def _permanent(raw) -> bool:
    if not isinstance(raw, dict):
        return True  # Mailgun's legacy form posts: anymail already told soft from hard
    if "bounceType" in raw.get("bounce", {}):  # SES: the SNS Message, as anymail parsed it
        return raw["bounce"]["bounceType"] == "Permanent"
    if raw.get("RecordType") == "Bounce":  # Postmark
        return raw.get("Type") == "HardBounce"
    if raw.get("event") == "bounce":  # SendGrid: "bounce" or "blocked"
        return raw.get("type", "bounce") == "bounce"
    return True


def event_key(event: AnymailTrackingEvent) -> str:
    """The provider's id for the event, or (Postmark sends none for deliveries) a hash of the event."""
    if event.event_id and len(str(event.event_id)) <= 128:
        return str(event.event_id)
    raw = json.dumps(event.esp_event, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _reason(event: AnymailTrackingEvent) -> str:
    parts = [str(part) for part in (event.description, event.mta_response) if part]
    return " — ".join(parts)[:255]


@transaction.atomic
def record_tracking_event(*, event: AnymailTrackingEvent, provider: str) -> Recorded:
    """Keep one provider event once and apply it: the email's status, and the address's mark.

    Matched to our email by the provider's message id (Notification.message_id). The address is
    marked by the event's recipient, whatever the email was (a bounced password reset counts too),
    and only while it is still the user's address: a late bounce for an old address marks no one.
    """
    status = delivery_status(event)
    recipient = (event.recipient or "")[:254]
    message_id = str(event.message_id or "")[:255]
    notification = Notification.objects.filter(message_id=message_id).first() if message_id else None
    occurred_at = event.timestamp or timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a duplicate's IntegrityError leaves ours usable
            EmailEvent.objects.create(
                provider=provider[:32],
                event_id=event_key(event),
                event_type=str(event.event_type)[:32],
                status=status or "",
                message_id=message_id,
                recipient=recipient,
                reason=_reason(event),
                occurred_at=event.timestamp,
                notification=notification,
            )
    except IntegrityError:
        log.info("email event already recorded provider=%s type=%s", provider, event.event_type)
        return Recorded.DUPLICATE
    if status and notification:
        behind = [s for s, rank in _RANK.items() if rank <= _RANK[status]]
        Notification.objects.filter(pk=notification.pk, delivery_status__in=behind).update(
            delivery_status=status, delivery_status_at=occurred_at, delivery_reason=_reason(event)
        )
    if status in UNREACHABLE and recipient:
        label = "Marked our email as spam" if status is DeliveryStatus.COMPLAINED else "Hard bounce"
        mark_unreachable(address=recipient, reason=f"{label}: {_reason(event)}".rstrip(": "), at=occurred_at)
    log.info(
        "email event recorded provider=%s type=%s status=%s matched=%s",
        provider,
        event.event_type,
        status or "-",
        notification is not None,
    )
    return Recorded.RECORDED


def mark_unreachable(*, address: str, reason: str, at: datetime) -> int:
    """Mark the users whose address this is as not reachable by email (the first reason is kept)."""
    return (
        get_user_model()
        .objects.filter(email__iexact=address, email_undeliverable_at__isnull=True)
        .update(email_undeliverable_at=at, email_undeliverable_reason=reason[:255])
    )


def address_changed(*, user_pk: int) -> bool:
    """A new address has not bounced: clear the mark. Called wherever a user's email changes (the
    admin's user form, staff.admin.records); the reconciler then sends the email that is due."""
    return bool(
        get_user_model()
        .objects.filter(pk=user_pk, email_undeliverable_at__isnull=False)
        .update(email_undeliverable_at=None, email_undeliverable_reason="")
    )
