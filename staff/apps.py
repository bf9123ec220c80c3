from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """django.contrib.admin with our site as the default `admin.site` (the second factor)."""

    default_site = "staff.site.MonolinkAdminSite"


class StaffConfig(AppConfig):
    """Staff's window: every ModelAdmin (staff.admin) and the overview on the admin index."""

    name = "staff"
    verbose_name = "Staff"
