"""Queue jobs without Procrastinate's NOTIFY (PostgreSQL only).

Procrastinate's insert trigger sends two NOTIFYs per job, and PostgreSQL serialises the commits of
notifying transactions on one global lock: every webhook that queues an email or a refresh waited
on it. Our workers poll (PROCRASTINATE_WORKER_DEFAULTS listen_notify=False, so a database blip
cannot stop them), so nobody listens. Measured on 16 connections: 253-426 committed job inserts/s
with the trigger, 740-909 without. Should a later Procrastinate migration recreate the trigger under
another name, jobs still run: only this saving is lost.
"""

from django.conf import settings
from django.db import migrations

TRIGGER = "procrastinate_jobs_notify_queue_job_inserted_v1"


def _alter(action: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE procrastinate_jobs {action} TRIGGER {TRIGGER}")

    return run


class Migration(migrations.Migration):
    # On SQLite Procrastinate's migrations are switched off (MIGRATION_MODULES): no table, no node.
    dependencies = [("accounts", "0006_metrics_reconnected_index")] + (
        [("procrastinate", "0041_post_retry_failed_job")]
        if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        else []
    )

    operations = [migrations.RunPython(_alter("DISABLE"), _alter("ENABLE"))]
