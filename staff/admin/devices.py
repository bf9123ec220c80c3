"""Staff's authenticator apps (django-otp's TOTPDevice), listed without their seeds.

django-otp's own admin shows each device's key, its otpauth:// URL and a QR code to anyone who may
view devices, and lets them filter by key: whoever reads a seed can make a colleague's codes. The
seed is shown once, to its owner, by `manage.py enrol_totp`; here staff see who has a device and
when it was last used, and a superuser may delete one so its owner can be enrolled again.
"""

from __future__ import annotations

from django.contrib import admin

# django-otp registers its admin on import; import it first so the unregister below always finds it
# (whatever the order of INSTALLED_APPS), and it never registers again.
from django_otp.plugins.otp_totp import admin as _otp_totp_admin  # noqa: F401
from django_otp.plugins.otp_totp.models import TOTPDevice

from .secrets import SecretLookupsRefused

admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(SecretLookupsRefused, admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]
    search_help_text = "Username or email."
    # No key, no configuration (django-otp's config_url and QR code pages are not routed here).
    fields = [
        "user",
        "name",
        "confirmed",
        "created_at",
        "last_used_at",
        "throttling_failure_count",
        "throttling_failure_timestamp",
    ]
    readonly_fields = fields
    secret_lookups = ("key", "user__password")

    def has_add_permission(self, request):
        return False  # a device and its seed come from enrol_totp, shown to their owner only

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser  # to re-enrol someone who lost their phone
