"""The staff overview's indexes (the reconnections index widened), and trigram indexes for the admin's
partial-match search.

The trigram indexes exist on PostgreSQL only and are not in the models' state: SQLite has no GIN,
and an index in the state would be re-created by SQLite's table rebuilds in later migrations. The
expressions match what Django sends for `icontains` on PostgreSQL, `UPPER(col::text) LIKE UPPER(%s)`,
so the planner can use them for a search such as "ada" at a million rows.
"""

from django.db import migrations, models

TRIGRAM_INDEXES = [
    ("accounts_user", "username", "user_username_trgm_idx"),
    ("accounts_user", "email", "user_email_trgm_idx"),
    ("accounts_linkedaccount", "account_name", "linkedaccount_name_trgm_idx"),
    ("accounts_linkedaccount", "account_number_masked", "linkedaccount_number_trgm_idx"),
]


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Here rather than Django's TrigramExtension operation, whose reverse queries pg_extension even
    # on SQLite. Unapplying leaves the extension in place: other objects may use it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column, name in TRIGRAM_INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, _column, name in TRIGRAM_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_jobs_without_notify"),
    ]

    operations = [
        # 0006 (/metrics) indexed reauth_completed_at alone; with the flag time beside it the same index
        # also gives the overview's median from the index alone, and still serves /metrics' range count.
        migrations.RemoveIndex(model_name="linkedaccount", name="linkedaccount_reconnected_idx"),
        migrations.AddIndex(
            model_name="linkedaccount",
            index=models.Index(
                condition=models.Q(("reauth_completed_at__isnull", False)),
                fields=["reauth_completed_at", "reauth_requested_at"],
                name="linkedaccount_reconnected_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="linkedaccount",
            index=models.Index(
                condition=models.Q(("reauth_required", True), ("unlinked_at__isnull", True)),
                fields=["institution_name"],
                name="linkedaccount_flagged_bank_idx",
            ),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
