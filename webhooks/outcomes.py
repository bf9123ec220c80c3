"""What processing a delivery came to (Outcome), and the stored delivery it holds meanwhile (Held)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import WebhookEvent
from .parsing import Event


@dataclass(frozen=True)
class Outcome:
    http_status: int
    detail: str
    delivery: WebhookEvent | None = None  # the stored row (its `event` is Mono's event name)
    duplicate: bool = False  # True when nothing ran because the delivery had been handled already
    jobs: tuple[int, ...] = ()  # the follow-up jobs it queued (Procrastinate's ids), for the log line

    @property
    def status(self) -> str:
        return self.delivery.status if self.delivery is not None else ""


@dataclass(frozen=True)
class Held:
    """A stored delivery the current transaction holds: inserted by it, or locked by it."""

    row: WebhookEvent
    inserted: bool  # True: nothing has run it, its event is parsed; written by this transaction unless `apart`
    event: Event | None = None
    apart: bool = False  # committed before this transaction, by the one statement (webhooks.store)
