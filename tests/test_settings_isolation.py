"""The suite's settings do not depend on the shell that runs it, and production refuses a retired
variable by name. Each case imports the settings in a fresh interpreter with a chosen environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ = """
import json
import django
from django.conf import settings as s
django.setup()
print(json.dumps({
    "DEBUG": s.DEBUG, "SECURE_PROXY_SSL_HEADER": getattr(s, "SECURE_PROXY_SSL_HEADER", None),
    "FORWARDED_ALLOW_IPS": s.FORWARDED_ALLOW_IPS, "FORWARDED_PROXY_HOPS": s.FORWARDED_PROXY_HOPS,
    "MONO_SECRET_KEY": s.MONO_SECRET_KEY, "MONO_SANDBOX": s.MONO_SANDBOX, "SECRET_KEY": s.SECRET_KEY,
    "AXES_FAILURE_LIMIT": s.AXES_FAILURE_LIMIT, "SESSION_COOKIE_AGE": s.SESSION_COOKIE_AGE,
    "LOG_FORMAT": s.LOG_FORMAT, "METRICS_ALLOWED_IPS": s.METRICS_ALLOWED_IPS, "SITE_URL": s.SITE_URL,
    "MONO_REQUEST_DEADLINE": s.MONO_REQUEST_DEADLINE,
}))
"""
# What a developer's shell might well export; none of it may reach the suite's settings.
SHELL = {
    "DEBUG": "true",
    "FORWARDED_ALLOW_IPS": "*",
    "FORWARDED_PROXY_HOPS": "3",
    "SECRET_KEY": "a-developer's-own-secret-key-0123456789",
    "MONO_SECRET_KEY": "live_sk_from_the_shell",
    "MONO_SANDBOX": "false",
    "SIGNIN_FAILURE_LIMIT": "1",
    "SESSION_LIFETIME_SECONDS": "60",
    "LOG_FORMAT": "line",
    "METRICS_ALLOWED_IPS": "0.0.0.0/0",
    "SITE_URL": "https://example.invalid",
    "MONO_REQUEST_DEADLINE_SECONDS": "1",
    "DJANGO_READ_DOT_ENV_FILE": "true",
    "SESSION_HOURS": "2",  # retired: would stop the real settings
}


def run(settings_module: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    bare = {name: os.environ[name] for name in ("PATH", "HOME", "DATABASE_URL") if name in os.environ}
    return subprocess.run(  # noqa: S603 (our own settings)
        [sys.executable, "-c", READ],
        cwd=ROOT,
        env={**bare, "DJANGO_SETTINGS_MODULE": settings_module, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_suite_sees_the_same_settings_whatever_the_shell_exports():
    clean, noisy = run("monolink.test_settings", {}), run("monolink.test_settings", SHELL)

    assert clean.returncode == 0, clean.stderr
    assert noisy.returncode == 0, noisy.stderr
    assert json.loads(noisy.stdout) == json.loads(clean.stdout)
    pinned = json.loads(clean.stdout)
    assert pinned["DEBUG"] is False
    assert pinned["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert pinned["FORWARDED_ALLOW_IPS"] == ["127.0.0.1", "::1"]
    assert (pinned["MONO_SECRET_KEY"], pinned["MONO_SANDBOX"]) == ("", True)


def test_production_refuses_a_retired_variable_naming_the_new_one(tmp_path):
    done = run(
        "monolink.settings",
        {
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DEBUG": "true",
            "SESSION_HOURS": "2",
            "MONO_MAX_RETRIES": "5",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
    )

    assert done.returncode != 0
    assert "SESSION_HOURS was renamed SESSION_LIFETIME_SECONDS" in done.stderr
    assert "MONO_MAX_RETRIES is no longer read" in done.stderr
