from django.db import migrations


class Migration(migrations.Migration):
    """The column holds a token's fingerprint, never a code or a token: named for what it holds."""

    dependencies = [("accounts", "0012_human_labels")]

    operations = [
        migrations.RenameField("linkedaccount", "reauth_code", "reauth_token_fingerprint"),
        migrations.RenameField("linkedaccount", "reauth_code_issued_at", "reauth_token_issued_at"),
    ]
