"""Human labels for the admin, the staff overview's reconnect index, and trigram indexes for the
admin's partial-match search.

The trigram indexes exist on PostgreSQL only and are not in the models' state: SQLite has no GIN,
and an index in the state would be re-created by SQLite's table rebuilds in later migrations. The
expressions match what Django sends for `icontains` on PostgreSQL, `UPPER(col::text) LIKE UPPER(%s)`,
so the planner can use them for a search such as "ada" at a million rows.
"""

from django.contrib.postgres.operations import TrigramExtension
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
        ("accounts", "0003_admin_list_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="linkedaccount",
            name="account_number_masked",
            field=models.CharField(blank=True, max_length=32, verbose_name="number"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, verbose_name="linked"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="details_as_of",
            field=models.DateTimeField(blank=True, null=True, verbose_name="details as of"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="institution_bank_code",
            field=models.CharField(blank=True, max_length=16, verbose_name="bank code"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="institution_name",
            field=models.CharField(blank=True, max_length=128, verbose_name="bank"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="institution_type",
            field=models.CharField(blank=True, max_length=64, verbose_name="bank type"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="last_event_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="last Mono event"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="mono_account_id",
            field=models.CharField(max_length=64, unique=True, verbose_name="Mono account id"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="reauth_code_issued_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="token issued"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="reauth_completed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="reconnected"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="reauth_notified_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the user was emailed about the current flag.",
                null=True,
                verbose_name="user emailed",
            ),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="reauth_requested_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="flagged"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="reauth_submitted_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the user last finished the widget; awaiting Mono's confirmation.",
                null=True,
                verbose_name="user finished the widget",
            ),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="unlinked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="unlinked"),
        ),
        migrations.AlterField(
            model_name="linkedaccount",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="updated"),
        ),
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
        migrations.AddIndex(
            model_name="linkedaccount",
            index=models.Index(
                condition=models.Q(("reauth_required", True), ("unlinked_at__isnull", True)),
                fields=["reauth_notified_at"],
                name="linkedaccount_notified_idx",
            ),
        ),
        TrigramExtension(),  # a no-op on SQLite
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
