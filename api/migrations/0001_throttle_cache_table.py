"""The database cache table the API's throttles count in (settings.CACHES["api_throttle"]).

Django creates cache tables with `createcachetable`, outside migrations; running it here means every
`migrate` (deploys, ./dev run, the test databases) has the table without another step.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies: list = []
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop, elidable=False)]
