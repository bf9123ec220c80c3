"""Every ModelAdmin of the project, registered once (django.contrib.admin autodiscovers this package)."""

from django.contrib import admin
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob

from monolink.taskqueue import engine_in_database

from . import deliveries, devices, linked_accounts, records  # noqa: F401  (each registers its admins)


class TaskJobAdmin(ProcrastinateJobAdmin):
    """Procrastinate's own job pages, shown only where jobs go to it: without the engine (SQLite runs
    tasks in-process) they would only fail. Asked per request, so it follows the setting."""

    def has_module_permission(self, request):
        return engine_in_database() and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return engine_in_database() and super().has_view_permission(request, obj)


# Procrastinate registers its admin itself; this replaces it with the one above.
admin.site.unregister(ProcrastinateJob)
admin.site.register(ProcrastinateJob, TaskJobAdmin)
