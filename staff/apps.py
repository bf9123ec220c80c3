from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPConfig


class StaffAdminConfig(AdminConfig):
    """django.contrib.admin with our site as the default `admin.site` (the second factor)."""

    default_site = "staff.site.MonolinkAdminSite"


class StaffConfig(AppConfig):
    """Staff's window: every ModelAdmin (staff.admin) and the overview on the admin index."""

    name = "staff"
    verbose_name = "Staff"


# Third-party apps under the names staff read in the admin's app list ("Axes" and "TOTP Devices"
# say nothing to them). Django's way to rename an app: its AppConfig subclassed, named in
# INSTALLED_APPS in place of the app; labels, tables and behaviour stay the library's.
class SignInLockoutsConfig(AxesConfig):
    verbose_name = "Sign-in lockouts"


class AuthenticatorAppsConfig(TOTPConfig):
    verbose_name = "Staff second factor (authenticator apps)"
