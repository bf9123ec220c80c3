"""Reprocess stored Mono deliveries through the same pipeline as a live one (webhooks.pipeline.reprocess).

python manage.py replay_webhooks --status failed
python manage.py replay_webhooks --id 41 --id 42
python manage.py replay_webhooks --status unmatched --since 2026-11-01T00:00 --until 2026-11-02
"""

from collections import Counter
from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from webhooks import pipeline
from webhooks.models import WebhookEvent


def _when(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime.combine(day, time.min)
    if parsed is None:
        raise CommandError(f"Not an ISO date or time: {value!r} (e.g. 2026-11-23 or 2026-11-23T10:00Z).")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Reprocess stored webhook deliveries (by id, status and/or received time), oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--id", dest="ids", type=int, action="append", default=[], help="Row id (repeatable).")
        parser.add_argument("--status", choices=WebhookEvent.Status.values, help="Only rows with this status.")
        parser.add_argument("--since", help="Received at or after this ISO time.")
        parser.add_argument("--until", help="Received before this ISO time.")
        parser.add_argument("--dry-run", action="store_true", help="List what would be replayed; change nothing.")

    def handle(self, *args, ids, status, since, until, dry_run, **options):
        if not (ids or status or since or until):
            raise CommandError("Say what to replay: --id, --status, --since and/or --until.")
        rows = WebhookEvent.objects.all()
        if ids:
            rows = rows.filter(pk__in=ids)
            missing = sorted(set(ids) - set(rows.values_list("pk", flat=True)))
            if missing:
                self.stderr.write(f"No delivery with id {', '.join(map(str, missing))}.")
        if status:
            rows = rows.filter(status=status)
        if since:
            rows = rows.filter(received_at__gte=_when(since))
        if until:
            rows = rows.filter(received_at__lt=_when(until))
        # Ids first: reprocessing changes statuses, which would shift a lazily evaluated filter.
        pks = list(rows.order_by("received_at", "id").values_list("pk", flat=True))
        total = len(pks)
        if not total:
            if ids:  # an id the caller named and we could not find is an error a script must see
                raise CommandError("Nothing matched: no delivery with the given --id (and filters).")
            self.stdout.write("Nothing to replay.")
            return
        self.stdout.write(
            f"{'Would replay' if dry_run else 'Replaying'} {total} deliver{'y' if total == 1 else 'ies'}."
        )

        results: Counter[str] = Counter()
        for n, pk in enumerate(pks, 1):
            row = WebhookEvent.objects.get(pk=pk)
            label = f"[{n}/{total}] #{row.pk} {row.event or '(no event)'} {row.mono_account_id or '-'} ({row.status})"
            if dry_run:
                self.stdout.write(label)
                continue
            outcome = pipeline.reprocess(row)
            results[outcome.status or str(outcome.http_status)] += 1
            style = self.style.SUCCESS if outcome.http_status < 300 else self.style.ERROR
            self.stdout.write(f"{label} -> {style(outcome.status)}: {outcome.detail}")

        if dry_run:
            return
        summary = ", ".join(f"{name} {count}" for name, count in sorted(results.items()))
        self.stdout.write(f"Done: {total} replayed ({summary}).")
        if results.get(WebhookEvent.Status.FAILED):
            raise CommandError(f"{results[WebhookEvent.Status.FAILED]} delivery(ies) failed again; see their error.")
