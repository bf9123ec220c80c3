"""Bad days and attackers, round 3: readiness details and error reports."""

from __future__ import annotations

import io
import json
import secrets
import smtplib
import socket

import pytest
import sentry_sdk
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from sentry_sdk.transport import Transport

from accounts.models import User
from monolink import sentry

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


# --- error reports: no frame variables (a reset link sits in smtplib's) --------------------------------


class CapturingTransport(Transport):
    """Keeps every event instead of sending it: the real client, no network."""

    events: list[dict] = []

    def capture_envelope(self, envelope):
        self.events.extend(item.payload.json for item in envelope.items if item.type == "event")


@pytest.fixture
def sentry_events():
    CapturingTransport.events = []
    sentry.init(dsn="https://public@sentry.example.invalid/1", environment="test", release="", traces_sample_rate=0)
    sentry_sdk.get_client().transport = CapturingTransport(sentry_sdk.get_client().options)
    yield CapturingTransport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: off again


class Refuses451:
    async def handle_DATA(self, server, session, envelope):
        return "451 4.3.0 Try again later"


@pytest.fixture
def smtp_451(settings):
    with socket.socket() as probe:  # aiosmtpd needs a port number up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Refuses451(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield
    controller.stop()


def frames(event: dict) -> list[dict]:
    values = (event.get("exception") or {}).get("values") or []
    return [frame for value in values for frame in (value.get("stacktrace") or {}).get("frames") or []]


def test_forgot_password_with_smtp_answering_451_reports_no_frame_variables_or_reset_link(
    db, sentry_events, smtp_451, settings, django_capture_on_commit_callbacks
):
    user = User.objects.create_user("ada", email="ada@example.com", password="pw-ada-12345")
    reset_path = f"/accounts/reset/{urlsafe_base64_encode(force_bytes(user.pk))}/"

    # The request queues the email; its mail job (run in-process here, at commit) meets the 451.
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/accounts/password-reset/", {"email": "ada@example.com"})
    sentry_sdk.flush()

    assert response.status_code == 302  # the job's failure is logged (log.exception); the answer is as usual
    assert sentry_events, "the failure was reported"
    sent = json.dumps(sentry_events)
    assert "SMTPDataError" in sent  # still a useful report: the error and its stack
    assert [frame for event in sentry_events for frame in frames(event) if "vars" in frame] == []
    assert reset_path not in sent
    assert "ada@example.com" not in sent


def test_a_reset_link_in_a_local_variable_or_a_message_never_reaches_the_report(sentry_events, settings):
    token = "d4k2x-" + secrets.token_hex(16)  # made at run time: the report also carries source lines
    reset_url = f"{settings.SITE_URL}/accounts/reset/MQ/{token}/"

    def send_reset(link: str):
        body = f"Someone asked to reset your password. Choose a new one at {link}"
        raise smtplib.SMTPServerDisconnected(f"Connection unexpectedly closed while sending: {len(body)}")

    def log_the_link(link: str):
        try:
            send_reset(link)
        except smtplib.SMTPException as exc:
            raise RuntimeError(f"reset mail failed for {link}") from exc  # the link in a message, too

    try:
        log_the_link(reset_url)
    except RuntimeError as exc:
        sentry_sdk.capture_exception(exc)
    sentry_sdk.flush()

    assert len(sentry_events) == 1
    sent = json.dumps(sentry_events)
    assert token not in sent
    assert [frame for frame in frames(sentry_events[0]) if "vars" in frame] == []
    assert {"send_reset", "log_the_link"} <= {frame.get("function") for frame in frames(sentry_events[0])}
