"""When to email a user about a broken link, read from the state alone.

A flag (an account's `reauth_requested_at`) earns a first email at once (step 0) and a reminder
REAUTH_REMINDER_DAYS after it (steps 1, 2, …) while it stays flagged. Each step is sent at most once
(Notification's unique constraint). Only the latest due step is ever sent: a user whose first email
was held up for four days gets one email, not a burst of three.

The reconciler (notifications.tasks.reconcile) asks `due_emails()` which emails are missing, so a lost
job delays an email, never drops it. Its queries stay cheap on a big table: `LinkedAccount`'s
partial index on flagged accounts gives the candidates, and Notification's unique index answers
each candidate's last step in one probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Concat
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import LinkedAccount, Notification
from monolink.taskqueue import engine_in_database


def reminder_offsets() -> list[timedelta]:
    """How long after the flag each reminder is due: step n is due at offsets[n - 1]."""
    return [timedelta(days=days) for days in settings.REAUTH_REMINDER_DAYS]


def due_step(flagged_at: datetime, now: datetime) -> int:
    """The latest step whose time has come: 0 (the first email) until the first reminder is due."""
    return sum(1 for offset in reminder_offsets() if flagged_at + offset <= now)


def mail_queueing_lock(mono_account_id: str) -> str:
    """At most one reconciler-queued email waits per account (Procrastinate's queueing lock)."""
    return f"reauth-mail:{mono_account_id}"


@dataclass(frozen=True)
class DueEmail:
    mono_account_id: str
    step: int


def due_emails(*, now: datetime, limit: int) -> list[DueEmail]:
    """Flagged accounts whose latest due email is not recorded, oldest flag first.

    The first email only counts as missing after REAUTH_EMAIL_GRACE (the webhook's own job sends it
    within seconds). Users without an address, or whose address bounced or complained (until it
    changes, notifications.delivery), are left out (nothing to send), and so are accounts
    whose reconciler email is already waiting in the queue, so accounts stuck retrying (a mail
    server refusing an address) never hold up the rest of the batch.
    """
    step_sql = Case(
        *[
            When(reauth_requested_at__lte=now - offset, then=Value(step))
            for step, offset in reversed(list(enumerate(reminder_offsets(), start=1)))
        ],
        default=Value(0),
        output_field=IntegerField(),
    )
    last_sent = Notification.objects.filter(
        account=OuterRef("pk"), flagged_at=OuterRef("reauth_requested_at")
    ).order_by("-step")
    candidates = (
        LinkedAccount.objects.flagged()
        .filter(reauth_requested_at__lte=now - settings.REAUTH_EMAIL_GRACE)
        .exclude(user__email="")
        .filter(user__email_undeliverable_at__isnull=True)  # User.email_reachable: no bounce, no complaint
        .annotate(due=step_sql, last=Coalesce(Subquery(last_sent.values("step")[:1]), Value(-1)))
        .filter(last__lt=F("due"))
    )
    if engine_in_database():
        waiting = ProcrastinateJob.objects.filter(
            status="todo", queueing_lock=Concat(Value("reauth-mail:"), OuterRef("mono_account_id"))
        )
        candidates = candidates.exclude(Exists(waiting))
    rows = candidates.order_by("reauth_requested_at").values_list("mono_account_id", "due")[:limit]
    return [DueEmail(mono_account_id=mono_id, step=step) for mono_id, step in rows]


def stale_details(*, now: datetime, limit: int) -> list[str]:
    """Linked accounts whose details we have neither received nor asked for within DETAILS_MAX_AGE,
    oldest first (a partial index). Locks the rows it returns, skipping locked ones, so two passes
    at once pick different accounts: call it in the transaction that marks them asked for."""
    return list(
        LinkedAccount.objects.linked()
        .filter(details_checked_at__lt=now - settings.DETAILS_MAX_AGE)
        .order_by("details_checked_at")
        .select_for_update(skip_locked=True)
        .values_list("mono_account_id", flat=True)[:limit]
    )


def sent_counts(since: datetime) -> dict[str, int]:
    """Emails about broken links sent since `since`: {"first_emails": n, "reminders": m}.

    For metrics and the admin overview; one indexed range count on Notification.sent_at.
    """
    counts = Notification.objects.filter(sent_at__gte=since).aggregate(
        first_emails=Count("pk", filter=Q(step=0)), reminders=Count("pk", filter=Q(step__gt=0))
    )
    return {"first_emails": counts["first_emails"], "reminders": counts["reminders"]}
