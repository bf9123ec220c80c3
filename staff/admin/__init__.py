"""Every ModelAdmin of the project, registered once (django.contrib.admin autodiscovers this package)."""

from django.contrib import admin
from procrastinate.contrib.django.models import ProcrastinateJob

from monolink.taskqueue import engine_in_database

from . import deliveries, linked_accounts, records  # noqa: F401  (each registers its admins)

if not engine_in_database() and admin.site.is_registered(ProcrastinateJob):
    # Without the engine's tables (SQLite runs tasks in-process) its job pages would only fail.
    admin.site.unregister(ProcrastinateJob)
