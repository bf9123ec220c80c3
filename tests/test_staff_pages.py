"""What staff read in the admin: the second-factor sign-in, the site's name, plain app names."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User

ADMIN_LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def root(db):
    return User.objects.create_user("root", password="pw-root-12345", is_staff=True, is_superuser=True)


def test_staff_sign_in_asks_for_one_authenticator_code_and_nothing_else(client, root, settings):
    settings.ADMIN_OTP_REQUIRED = True
    call_command("enrol_totp", "root", "--no-qr", stdout=io.StringIO())
    empty = client.get(ADMIN_LOGIN).content.decode()
    wrong = client.post(ADMIN_LOGIN, {"username": "root", "password": "pw-root-12345", "otp_token": ""})
    page = wrong.content.decode()

    for html in (empty, page):
        assert '<label for="id_otp_token"' in html and "Authenticator code" in html
        assert 'name="otp_device"' not in html and "OTP Device" not in html
        assert "Get OTP Challenge" not in html and 'name="otp_challenge"' not in html
        assert 'autocomplete="one-time-code"' in html
    assert "Enter the 6-digit code from your authenticator app." in page
    assert TOTPDevice.objects.filter(user=root).count() == 1


def test_the_admin_says_the_products_name_and_plain_app_names(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "monolink staff" in page and "Django administration" not in page
    assert "Sign-in lockouts" in page and "Staff second factor (authenticator apps)" in page
    assert ">Axes<" not in page and "TOTP Devices</a></caption>" not in page
