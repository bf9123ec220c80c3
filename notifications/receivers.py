"""anymail's `tracking` signal, handed to the one service that records it (notifications.delivery).

The receiver does no work itself (docs/architecture.md: no signal does work anywhere); it is the
seam between anymail's webhook views and our rule. An exception here is a 500 to the provider,
which sends the event again later: what we could not record, we do not acknowledge.
"""

from __future__ import annotations

from anymail.signals import tracking
from django.dispatch import receiver

from . import delivery


@receiver(tracking, dispatch_uid="notifications.record_tracking_event")
def on_tracking_event(sender, event, esp_name, **kwargs) -> None:
    delivery.record_tracking_event(event=event, provider=esp_name)
