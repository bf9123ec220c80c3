from django.contrib.admin.apps import AdminConfig


class MonolinkAdminConfig(AdminConfig):
    """django.contrib.admin with our site as the default `admin.site` (the second factor)."""

    default_site = "monolink.admin_site.MonolinkAdminSite"
