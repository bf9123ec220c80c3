"""Bad days and attackers, round 3: readiness details and error reports."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User

STAFF_PASSWORD = "pw-ops-12345"


@pytest.fixture
def otp_staff(transactional_db, settings):  # the checks run in threads of their own
    settings.ADMIN_OTP_REQUIRED = True
    staff = User.objects.create_user("ops", password=STAFF_PASSWORD, is_staff=True)
    call_command("enrol_totp", "ops", "--no-qr", stdout=io.StringIO())
    return staff


def code_for(user) -> str:
    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


# --- readiness details: only past the second factor -------------------------------------------------


def test_readiness_details_are_refused_to_staff_signed_in_with_a_password_alone(client, otp_staff):
    signed_in = client.post("/accounts/login/", {"username": "ops", "password": STAFF_PASSWORD})
    assert signed_in.status_code == 302  # the site's own sign-in: a password, no code

    response = client.get("/readyz?format=json")

    assert set(response.json()) == {"status"}  # the verdict only


def test_readiness_details_go_to_staff_past_the_second_factor(client, otp_staff):
    signed_in = client.post(
        "/admin/login/?next=/admin/",
        {"username": "ops", "password": STAFF_PASSWORD, "otp_token": code_for(otp_staff)},
    )
    assert signed_in.status_code == 302

    response = client.get("/readyz?format=json")

    assert response.status_code == 200
    assert response.json() == {"DatabaseReachable(alias='default')": "OK", "MigrationsApplied()": "OK"}


def test_readiness_details_go_to_the_health_token_without_a_session(client, otp_staff, settings):
    settings.HEALTH_CHECK_TOKEN = "health-token-for-the-tests"

    response = client.get("/readyz?format=json", headers={"Authorization": "Bearer health-token-for-the-tests"})

    assert "MigrationsApplied()" in response.json()
