"""`python manage.py reconcile`: one reconciler pass, now, printing what it queued.

The same pass the workers run every minute (accounts.tasks.reconcile_follow_ups). For SQLite and
other in-process setups, where no worker runs periodic tasks (a cron line can call this), and for
staff who want to see what the state says is missing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.tasks import reconcile


class Command(BaseCommand):
    help = "Queue the follow-ups the accounts' state says are missing: due emails, reminders, stale details."

    def add_arguments(self, parser: CommandParser) -> None:
        default = settings.RECONCILE_BATCH
        parser.add_argument("--batch", type=int, default=None, help=f"At most this many of each kind ({default})")

    def handle(self, *args, batch: int | None, **options) -> None:
        if batch is not None and batch < 1:
            raise CommandError("--batch must be at least 1.")
        done = reconcile(batch=batch)
        queued = {"first email": done.first_emails, "reminder": done.reminders, "refresh": done.refreshes}
        for label, ids in queued.items():
            for mono_account_id in ids:
                self.stdout.write(f"queued {label} for {mono_account_id}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Queued {len(done.first_emails)} first email(s), {len(done.reminders)} reminder(s), "
                f"{len(done.refreshes)} refresh(es)."
            )
        )
