import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import LinkedAccount

from .conftest import ON_POSTGRES

ROOT = Path(__file__).resolve().parent.parent


def _check(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONO_", "SECRET_KEY", "DEBUG", "TASKS_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "monolink.settings", "DJANGO_READ_DOT_ENV_FILE": "false"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"MONO_WEBHOOK_SECRET": "a-real-webhook-secret-value"}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me", "MONO_WEBHOOK_SECRET": "a-real-webhook-secret-value"}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 50}, "MONO_WEBHOOK_SECRET"),
        ({"SECRET_KEY": "x" * 50, "MONO_WEBHOOK_SECRET": "change-me"}, "MONO_WEBHOOK_SECRET"),
        # No Mono key in production would silently run the sandbox and its open fake-Mono endpoint.
        ({"SECRET_KEY": "x" * 50, "MONO_WEBHOOK_SECRET": "y" * 30}, "MONO_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_without_a_real_secret_and_names_it(overrides, named):
    result = _check({"DEBUG": "false", **overrides})
    assert result.returncode != 0
    assert f"{named} must be set" in result.stderr


@pytest.mark.parametrize(
    "mono",
    [{"MONO_SECRET_KEY": "live_sk_" + "k" * 30, "MONO_PUBLIC_KEY": "live_pk_" + "p" * 30}, {"MONO_SANDBOX": "true"}],
    ids=["real-keys", "demo-site"],
)
def test_production_starts_with_real_secrets(mono):
    tasks = {} if ON_POSTGRES else {"TASKS_ALLOW_IN_PROCESS": "true"}  # SQLite has only in-process tasks
    result = _check({"DEBUG": "false", "SECRET_KEY": "x" * 50, "MONO_WEBHOOK_SECRET": "y" * 30, **mono, **tasks})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("tasks", "refused"),
    [
        ({"TASKS_BACKEND": "in_process"}, True),
        ({"TASKS_BACKEND": "in_process", "TASKS_ALLOW_IN_PROCESS": "true"}, False),
    ],
    ids=["in-process-refused", "in-process-allowed-by-name"],
)
def test_production_refuses_in_process_tasks_unless_allowed(tasks, refused):
    env = {"DEBUG": "false", "SECRET_KEY": "x" * 50, "MONO_WEBHOOK_SECRET": "y" * 30, "MONO_SANDBOX": "true"}

    result = _check({**env, **tasks})

    assert (result.returncode != 0) == refused, result.stderr
    assert ("monolink.E002" in result.stderr) == refused


def test_procrastinate_tasks_need_postgresql():
    result = _check({"DEBUG": "true", "DATABASE_URL": "sqlite:////tmp/x.sqlite3", "TASKS_BACKEND": "procrastinate"})
    assert result.returncode != 0
    assert "TASKS_BACKEND=procrastinate needs PostgreSQL" in result.stderr


def test_sandbox_and_real_keys_together_are_refused():
    result = _check({"DEBUG": "true", "MONO_SECRET_KEY": "test_sk_" + "k" * 30, "MONO_SANDBOX": "true"})
    assert result.returncode != 0
    assert "MONO_SANDBOX=true cannot be used with a MONO_SECRET_KEY" in result.stderr


def test_mono_account_id_is_unique(make_account):
    make_account(mono_account_id="dup-id")
    with pytest.raises(IntegrityError):
        make_account(mono_account_id="dup-id")


def test_flagged_excludes_unlinked_and_grace_period(make_account):
    now = timezone.now()
    plain = make_account()
    flagged = make_account(reauth_required=True)
    make_account(reauth_required=True, unlinked_at=now)
    waiting = make_account(reauth_required=True, reauth_submitted_at=now - timedelta(minutes=1))
    assert set(LinkedAccount.objects.flagged()) == {flagged, waiting}
    assert list(LinkedAccount.objects.needing_user()) == [flagged]
    assert plain.state == LinkedAccount.State.OK
    assert flagged.state == LinkedAccount.State.NEEDS_REAUTH
    assert waiting.state == LinkedAccount.State.AWAITING


def test_real_keys_without_a_public_key_fail_the_checks():
    result = _check({"DEBUG": "true", "MONO_SECRET_KEY": "test_sk_" + "k" * 30})
    assert result.returncode != 0
    assert "monolink.E001" in result.stderr


def test_deploy_check_warns_about_a_localhost_site_url():
    env = {"DEBUG": "false", "SECRET_KEY": "x" * 50, "MONO_WEBHOOK_SECRET": "y" * 30, "MONO_SANDBOX": "true"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONO_", "SECRET_KEY", "DEBUG", "TASKS_"))} | env
    env.update({"DJANGO_SETTINGS_MODULE": "monolink.settings", "DJANGO_READ_DOT_ENV_FILE": "false"})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "monolink.W001" in result.stderr
    assert "monolink.W002" in result.stderr  # SUPPORT_EMAIL left at support@localhost


def test_deploy_check_is_clean_once_the_site_and_support_addresses_are_set():
    env = {"DEBUG": "false", "SECRET_KEY": "x" * 50, "MONO_WEBHOOK_SECRET": "y" * 30, "MONO_SANDBOX": "true"}
    env |= {"SITE_URL": "https://monolink.example.org", "SUPPORT_EMAIL": "help@monolink.example.org"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONO_", "SECRET_KEY", "DEBUG", "TASKS_"))} | env
    env.update({"DJANGO_SETTINGS_MODULE": "monolink.settings", "DJANGO_READ_DOT_ENV_FILE": "false"})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stderr + result.stdout
    assert "System check identified" in output  # the check ran
    assert "monolink.W001" not in output and "monolink.W002" not in output
