"""The admin site: Django's, with a TOTP second factor for staff (django-otp) when
settings.ADMIN_OTP_REQUIRED is on (the default with DEBUG off; `./dev run` turns it off).

The setting is read per request rather than by swapping the site class at import time, so tests and
a running site agree on one site object. Staff enrol with `python manage.py enrol_totp USERNAME`.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice


class TOTPAdminAuthenticationForm(OTPAdminAuthenticationForm):
    """Username, password and the authenticator app's code in one step.

    django-otp makes the user pick a device first; staff here have exactly one (enrol_totp), so the
    form uses it, and a staff member without one is told how to get one.
    """

    otp_token = forms.CharField(
        required=False,
        label="Authenticator code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": "Enter the 6-digit code from your authenticator app.",
        "invalid_token": "That code is not right: enter the current 6-digit code from your authenticator app.",
        "device_required": "No authenticator app is set up for this account: ask an administrator to run "
        "`python manage.py enrol_totp <username>`.",
    }

    def clean(self):
        self.cleaned_data = AdminAuthenticationForm.clean(self)  # the password (and django-axes)
        user = self.get_user()
        if user is not None and not self.cleaned_data.get("otp_device"):
            device = TOTPDevice.objects.devices_for_user(user).first()  # confirmed devices only
            if device is not None:
                self.cleaned_data["otp_device"] = device.persistent_id
        self.clean_otp(user)
        return self.cleaned_data


class MonolinkAdminSite(OTPAdminSite):
    site_header = "monolink staff"  # not "Django administration"
    site_title = "monolink staff"
    index_title = "Overview"

    def __init__(self, name: str = "admin"):
        super().__init__(name)

    @property
    def login_form(self):
        return TOTPAdminAuthenticationForm if settings.ADMIN_OTP_REQUIRED else AdminAuthenticationForm

    @property
    def login_template(self):
        # Django's login page plus one "Authenticator code" field: no device list (staff have one) and
        # no "Get OTP Challenge" button (a TOTP app needs none), unlike django-otp's own template.
        return "admin/login_otp.html" if settings.ADMIN_OTP_REQUIRED else None

    def has_permission(self, request) -> bool:
        if settings.ADMIN_OTP_REQUIRED:
            return super().has_permission(request)  # staff *and* verified by a TOTP device this session
        return AdminSite.has_permission(self, request)
