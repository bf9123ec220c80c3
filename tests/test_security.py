"""Security hardening (issue 12): sign-in throttling, the staff second factor, admin token lookups,
where the sandbox sends the webhook secret, secrets at rest, caching, proxy headers, names from Mono.

Each test attacks the way the red-team pass did (the test client brute-forcing, a view-only staff
filtering, a forged Host aimed at a listening socket) and asserts what the attacker gets.
"""

import io
import os
import runpy
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.views.debug import technical_500_response
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import LinkedAccount, User
from monolink.checks import webhook_secret_length_check
from monolink.mono.types import details_from_mono
from notifications import tasks as notification_tasks
from reauth import state
from tests.conftest import _Capture
from tests.webhooks_support import load

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = {"capture_output": True, "text": True, "timeout": 120}
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "pw-ada-12345"  # the `user` fixture's
# Far from the test that uses them: the debug page shows the source lines around the exception.
LEAKED_PASSWORDS = ["db-pass-123", "smtp-pass-123", "dsn-key-123", "hook-pass-123"]
LEAKY = {
    "DATABASE_URL": "postgres://monolink:db-pass-123@db.example:5432/monolink",
    "EMAIL_URL": "smtp+tls://mailer:smtp-pass-123@smtp.example.com:587",
    "SENTRY_DSN": "https://dsn-key-123@sentry.example/1",
    "MONO_SANDBOX_WEBHOOK_URL": "https://hook:hook-pass-123@hooks.example/mono/",
}


def is_signed_in(client: Client) -> bool:
    """Whether this client's session holds a signed-in user (not the `signed_in` fixture)."""
    return "_auth_user_id" in client.session


def fail_sign_in(client: Client, times: int, url: str = LOGIN, username: str = "ada", **extra) -> None:
    for _ in range(times):
        client.post(url, {"username": username, "password": "wrong-guess"}, **extra)


# --- 1. sign-in throttling (django-axes) ------------------------------------------------------------


def test_brute_force_locks_the_username_and_the_right_password_no_longer_signs_in(client, user, settings):
    fail_sign_in(client, settings.AXES_FAILURE_LIMIT - 1)
    assert client.post(LOGIN, {"username": "ada", "password": "x"}, follow=False).status_code == 429

    locked = client.post(LOGIN, {"username": "ada", "password": "still-wrong"})
    after = client.post(LOGIN, {"username": "ada", "password": PASSWORD})

    assert locked.status_code == 429
    assert after.status_code == 429
    page = after.content.decode()
    assert "Too many sign-in attempts" in page
    assert "Wait 15 minutes" in page
    assert not is_signed_in(client)


def test_admin_sign_in_is_throttled_the_same_way(client, db, settings):
    User.objects.create_user("root", password="pw-root-12345", is_staff=True, is_superuser=True)
    fail_sign_in(client, settings.AXES_FAILURE_LIMIT, url=ADMIN_LOGIN, username="root")

    response = client.post(ADMIN_LOGIN, {"username": "root", "password": "pw-root-12345"})

    assert response.status_code == 429
    assert not is_signed_in(client)


def test_lockout_is_per_username_and_address(user, other_user, settings):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    fail_sign_in(attacker, settings.AXES_FAILURE_LIMIT)

    same_user_elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    other_user_same_address = Client(REMOTE_ADDR="203.0.113.9")
    same_user_elsewhere.post(LOGIN, {"username": "ada", "password": PASSWORD})
    other_user_same_address.post(LOGIN, {"username": "bola", "password": "pw-bola-12345"})

    assert is_signed_in(same_user_elsewhere)
    assert is_signed_in(other_user_same_address)


def test_a_successful_sign_in_resets_the_count(client, user, settings):
    fail_sign_in(client, settings.AXES_FAILURE_LIMIT - 1)
    client.post(LOGIN, {"username": "ada", "password": PASSWORD})
    client.logout()
    fail_sign_in(client, settings.AXES_FAILURE_LIMIT - 1)

    client.post(LOGIN, {"username": "ada", "password": PASSWORD})

    assert is_signed_in(client)


def test_staff_see_the_lockout_in_admin_and_deleting_it_unlocks(client, user, settings):
    fail_sign_in(client, settings.AXES_FAILURE_LIMIT)
    admin = Client()
    admin.force_login(User.objects.create_user("root", is_staff=True, is_superuser=True))
    from axes.models import AccessAttempt

    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    attempt = AccessAttempt.objects.get(username="ada")
    deleted = admin.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    client.post(LOGIN, {"username": "ada", "password": PASSWORD})

    assert listing.status_code == 200
    assert "ada" in listing.content.decode()
    assert deleted.status_code == 302
    assert is_signed_in(client)


def test_a_forged_forwarded_for_does_not_dodge_the_lockout(user, settings):
    # Straight to the app server (not our proxy): X-Forwarded-For is the client's to write.
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").post(
            LOGIN, {"username": "ada", "password": "wrong"}
        )

    response = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.9.9.9").post(
        LOGIN, {"username": "ada", "password": PASSWORD}
    )

    assert response.status_code == 429


def test_behind_the_trusted_proxy_each_client_address_counts_separately(user, settings):
    settings.FORWARDED_ALLOW_IPS = ["10.1.0.0/16"]
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    # The client prepends a forged hop; our proxy appends the address it saw.
    fail_sign_in(Client(**proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"), settings.AXES_FAILURE_LIMIT)

    attacker = Client(**proxy, HTTP_X_FORWARDED_FOR="5.6.7.8, 203.0.113.9")
    someone_else = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.20")

    assert attacker.post(LOGIN, {"username": "ada", "password": PASSWORD}).status_code == 429
    someone_else.post(LOGIN, {"username": "ada", "password": PASSWORD})
    assert is_signed_in(someone_else)


# --- 2. the staff second factor (django-otp) ------------------------------------------------------


@pytest.fixture
def staff(db):
    return User.objects.create_user("root", password="pw-root-12345", is_staff=True, is_superuser=True)


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_enrol_creates_a_confirmed_device_and_prints_its_provisioning_uri(staff):
    out = io.StringIO()

    call_command("enrol_totp", "root", stdout=out)

    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed
    printed = out.getvalue()
    assert device.config_url in printed
    assert printed.count("otpauth://totp/monolink") == 1
    assert "█" in printed or "▀" in printed  # the QR code, drawn in the terminal


def test_enrol_refuses_non_staff_and_a_second_device_without_replace(staff, user):
    with pytest.raises(CommandError, match="not staff"):
        call_command("enrol_totp", "ada", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No user"):
        call_command("enrol_totp", "nobody", stdout=io.StringIO())
    call_command("enrol_totp", "root", "--no-qr", stdout=io.StringIO())
    first_key = TOTPDevice.objects.get(user=staff).key
    with pytest.raises(CommandError, match="already has"):
        call_command("enrol_totp", "root", stdout=io.StringIO())

    call_command("enrol_totp", "root", "--replace", "--no-qr", stdout=io.StringIO())

    assert TOTPDevice.objects.filter(user=staff).count() == 1
    assert TOTPDevice.objects.get(user=staff).key != first_key
    assert not TOTPDevice.objects.filter(user=user).exists()


@pytest.fixture
def otp_on(settings):
    settings.ADMIN_OTP_REQUIRED = True


def test_admin_sign_in_with_the_right_code_opens_the_admin(client, staff, otp_on):
    call_command("enrol_totp", "root", "--no-qr", stdout=io.StringIO())
    device = TOTPDevice.objects.get(user=staff)

    response = client.post(
        ADMIN_LOGIN, {"username": "root", "password": "pw-root-12345", "otp_token": current_code(device)}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("code", ["", "000000"])
def test_admin_sign_in_without_a_valid_code_is_refused(client, staff, otp_on, code):
    call_command("enrol_totp", "root", "--no-qr", stdout=io.StringIO())
    device = TOTPDevice.objects.get(user=staff)
    if code == current_code(device):  # one chance in a million
        code = "111111"

    response = client.post(ADMIN_LOGIN, {"username": "root", "password": "pw-root-12345", "otp_token": code})

    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # back to the sign-in


def test_a_password_only_session_is_not_enough_for_the_admin(client, staff, otp_on):
    client.force_login(staff)  # e.g. signed in through the site's own sign-in page

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- 3. admin: no lookups on token fields ------------------------------------------------------------


def test_view_only_staff_cannot_filter_accounts_by_their_token(make_account):
    make_account(reauth_token_fingerprint="tok-abcdef-SECRET")
    make_account()
    viewer = User.objects.create_user("viewer", password="pw-view-12345", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_linkedaccount"))
    client = Client()
    client.force_login(viewer)
    url = reverse("admin:accounts_linkedaccount_changelist")

    probes = [
        client.get(url, {"reauth_token_fingerprint__startswith": "tok-a"}),
        client.get(url, {"reauth_token_fingerprint__regex": "^tok"}),
        client.get(url, {"reauth_token_fingerprint": "tok-abcdef-SECRET"}),
        client.get(url, {"user__password__startswith": "md5"}),
    ]

    assert [p.status_code for p in probes] == [400, 400, 400, 400]
    assert client.get(url).status_code == 200  # the list itself still works


# --- 4. the sandbox sends the webhook secret only where it is configured ------------------------------


@pytest.fixture
def attacker():
    """A listening socket the attacker controls, on this machine (ALLOWED_HOSTS ignores the port)."""
    from http.server import ThreadingHTTPServer
    from threading import Thread

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.received, server.status, server.answer = [], 200, {}
    Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_forged_host_header_never_receives_the_sandbox_webhook_secret(client, settings, receiver, attacker):
    settings.MONO_SANDBOX_WEBHOOK_URL = ""
    settings.SITE_URL = receiver.url.removesuffix("/webhooks/mono/")

    response = client.post(
        "/sandbox/complete/",
        data={"mode": "link", "bank_code": "058"},
        content_type="application/json",
        HTTP_HOST=f"127.0.0.1:{attacker.server_address[1]}",
    )

    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert attacker.received == []
    assert [item["path"] for item in receiver.received] == ["/webhooks/mono/", "/webhooks/mono/"]


# --- 5. secrets: length, files at rest, the debug page -------------------------------------------------


@pytest.mark.parametrize(("secret", "errors"), [("x" * 15, ["monolink.E003"]), ("x" * 16, [])])
def test_production_needs_a_webhook_secret_of_16_characters(settings, secret, errors):
    settings.DEBUG = False
    settings.MONO_WEBHOOK_SECRET = secret

    assert [e.id for e in webhook_secret_length_check(None)] == errors


def test_a_short_webhook_secret_stops_manage_py_in_production():
    env = {**os.environ, "DEBUG": "false", "DJANGO_READ_DOT_ENV_FILE": "false", "MONO_WEBHOOK_SECRET": "short-secret"}
    env.update({"DJANGO_SETTINGS_MODULE": "monolink.settings", "SECRET_KEY": "x" * 50, "MONO_SANDBOX": "true"})

    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert check.returncode != 0
    assert "monolink.E003" in check.stderr
    assert "short-secret" not in check.stdout + check.stderr


def test_dev_writes_env_readable_by_its_owner_only(tmp_path):
    # ./dev's own .env writer, run against a copy of the project files it reads.
    for name in ("dev", ".env.example"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)

    done = subprocess.run(  # noqa: S603 (our own script)
        [shutil.which("bash"), "dev", "env"], cwd=tmp_path, preexec_fn=lambda: os.umask(0o022), **CAPTURE
    )

    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert "SECRET_KEY=change-me" not in (tmp_path / ".env").read_text()


def test_the_sqlite_database_is_created_readable_by_its_owner_only(tmp_path):
    db = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "monolink.test_settings", "DATABASE_URL": f"sqlite:///{db}"}
    script = "from django.db import connection\nconnection.ensure_connection()\nconnection.cursor().execute('SELECT 1')"

    done = subprocess.run(  # noqa: S603 (our manage.py)
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=ROOT,
        env=env,
        preexec_fn=lambda: os.umask(0o022),
        **CAPTURE,
    )

    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        if extra.exists():
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600


def test_the_debug_error_page_hides_urls_and_dsns(rf, settings):
    settings.DEBUG = True
    settings.MONO_SANDBOX_WEBHOOK_URL = LEAKY["MONO_SANDBOX_WEBHOOK_URL"]
    # As runserver passes them: the process environment is part of request.META.
    request = rf.get("/boom/", **LEAKY)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()

    assert "RuntimeError" in page  # it is the debug page
    for password in LEAKED_PASSWORDS:
        assert password not in page


# --- 6. sessions and caches --------------------------------------------------------------------------


def test_every_signed_in_page_is_private_and_not_stored(client, user, account):
    client.force_login(user)

    for url in ("/", "/admin/login/", LOGIN):
        cache_control = client.get(url)["Cache-Control"]
        assert "private" in cache_control
        assert "no-store" in cache_control


def test_production_defaults_short_sessions_a_second_factor_and_a_loopback_server(tmp_path):
    from tests.test_production import HOST

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MONO_", "SESSION_", "ADMIN_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "monolink.settings",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DEBUG": "false",
            "SECRET_KEY": "s" * 50,
            "MONO_WEBHOOK_SECRET": "w" * 32,
            "MONO_SECRET_KEY": "live_sk_" + "k" * 24,
            "MONO_PUBLIC_KEY": "live_pk_public",
            "SITE_URL": f"https://{HOST}",
            "ALLOWED_HOSTS": HOST,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        }
    )
    script = "from django.conf import settings as s\nprint(s.SESSION_COOKIE_AGE, s.ADMIN_OTP_REQUIRED)"

    def read(**extra):
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert read() == [str(12 * 3600), "True"]
    assert read(SESSION_LIFETIME_SECONDS="7200") == [str(2 * 3600), "True"]
    for name in ("GUNICORN_BIND", "PORT"):
        os.environ.pop(name, None)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == "127.0.0.1:8000"


# --- 7. proxy headers: believed only from FORWARDED_ALLOW_IPS -----------------------------------------


@pytest.mark.parametrize(("peer", "redirected"), [("203.0.113.9", True), ("127.0.0.1", False)])
def test_x_forwarded_proto_counts_only_from_the_trusted_proxy(client, settings, peer, redirected):
    settings.SECURE_SSL_REDIRECT = True
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1"]

    response = client.get(LOGIN, REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO="https")

    assert (response.status_code == 301) is redirected
    if redirected:
        assert response["Location"].startswith("https://")


# --- 8. names from Mono are one line of plain text -----------------------------------------------------


def test_names_from_mono_lose_control_characters_and_newlines():
    details = details_from_mono(
        account_id="a1",
        account={
            "name": " ADA\r\n  OKAFOR\x00 ",
            "currency": "NGN\t",
            "institution": {"name": "GT\nBank\u202e Plc\u200b", "type": "PERSONAL\x1b[31m_BANKING"},
        },
        meta={"data_status": "available\n"},
    )

    assert details.name == "ADA OKAFOR"
    assert details.institution.name == "GT Bank Plc"
    assert details.institution.type == "PERSONAL [31m_BANKING"
    assert details.currency == "NGN"
    assert details.data_status == "AVAILABLE"


def test_a_newline_in_the_bank_name_no_longer_blocks_the_flag_email(account):
    updated = load("account_updated.v1")["data"]
    updated["account"]["institution"]["name"] = "GT\r\nBcc: victim@example.com"
    details = details_from_mono(account_id=account.mono_account_id, account=updated["account"], meta=updated["meta"])

    state.apply_account_update(mono_account_id=account.mono_account_id, details=details)
    state.flag_for_reauth(mono_account_id=account.mono_account_id)

    assert notification_tasks.send_reauth_email(mono_account_id=account.mono_account_id) == "sent"

    assert LinkedAccount.objects.get(pk=account.pk).institution_name == "GT Bcc: victim@example.com"
    assert [m.subject for m in mail.outbox] == ["Reconnect your GT Bcc: victim@example.com account"]
    assert mail.outbox[0].to == ["ada@example.com"]
    assert "\n" not in mail.outbox[0].message()["Subject"]


# --- 9. the lock files: every package pinned, with hashes, nothing missing ------------------------------


def locked(name: str) -> dict[str, tuple[str, list[str]]]:
    """{normalised name: (version, hashes)} from a pip-compile output file."""
    from packaging.utils import canonicalize_name

    pins: dict[str, tuple[str, list[str]]] = {}
    text = (ROOT / name).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        assert "==" in requirement, f"{name}: {requirement} is not pinned"
        package, version = requirement.split("==")
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=sha256:")]
        pins[canonicalize_name(package)] = (version, hashes)
    return pins


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-dev.txt"])
def test_the_lock_pins_every_dependency_with_hashes(lock):
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = locked(lock)

    assert {"django", "django-axes", "django-otp", "psycopg-binary", "sqlparse"} <= set(pins)
    assert all(hashes for _version, hashes in pins.values()), "every package carries its hashes"
    # Complete: every dependency of every locked package (on this platform) is locked too.
    for package in pins:
        for spec in distribution(package).requires or []:
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(requirement.name) in pins, f"{package} needs {requirement.name}"


def test_the_dev_lock_installs_the_production_versions():
    runtime, dev = locked("requirements.txt"), locked("requirements-dev.txt")

    assert {name: dev[name][0] for name in runtime} == {name: version for name, (version, _) in runtime.items()}
