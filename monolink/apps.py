from django.contrib.admin.apps import AdminConfig


class MonolinkAdminConfig(AdminConfig):
    """Django's admin, with monolink's site (the staff overview on the index) as admin.site."""

    default_site = "monolink.admin_site.MonolinkAdminSite"
