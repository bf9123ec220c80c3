"""The production worker: `python manage.py db_worker` runs the queued tasks from PostgreSQL.

The web side (this process) enqueues through django_tasks_db's backend and commits; a separate
worker process, started exactly as the README says, finds the rows, claims them and runs them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django_tasks_db.models import DBTaskResult

from accounts import rules
from accounts.models import LinkedAccount
from monolink.mono.sandbox import sandbox_details

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL for pytest-django's test database ('test_' + name), for another process."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def run_db_worker(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "monolink.settings",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "MONO_WEBHOOK_SECRET": settings.MONO_WEBHOOK_SECRET,
        "MONO_SECRET_KEY": "",  # the sandbox stands in for Mono in the worker...
        "MONO_SANDBOX": "true",  # ...which production settings want asked for by name
        "DATABASE_URL": test_database_url(),
        "TASKS_BACKEND": "database",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "LOG_FORMAT": "json",
    }
    return subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay", "--no-reload", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.postgres
def test_db_worker_process_runs_the_queued_tasks_from_postgresql(transactional_db, settings, account):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    other = LinkedAccount.objects.create(
        user=account.user, mono_account_id="5f171a530295e231abcd0042", institution_name="Kuda Bank"
    )
    # Committed (autocommit): the web side's work is done; the tasks wait in the table.
    rules.flag_for_reauth(mono_account_id=account.mono_account_id)
    rules.flag_for_reauth(mono_account_id=other.mono_account_id)
    rules.mark_reauthorised(mono_account_id=other.mono_account_id)
    queued = DBTaskResult.objects.values_list("task_path", "status")
    assert sorted(queued) == [
        ("accounts.tasks.follow_up_flag", "READY"),
        ("accounts.tasks.follow_up_flag", "READY"),
        ("accounts.tasks.refresh_account_details", "READY"),
    ]

    worker = run_db_worker()

    assert worker.returncode == 0, worker.stderr
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}
    # The flag that still stands was emailed (console backend: the worker's stdout); the other was
    # cleared before the worker ran, so its email was rightly skipped.
    assert worker.stdout.count("Subject: Reconnect your") == 1
    assert "Subject: Reconnect your GTBank account" in worker.stdout
    account.refresh_from_db()
    other.refresh_from_db()
    assert account.reauth_notified_at is not None
    assert other.reauth_notified_at is None
    # The refresh ran in the worker against the sandbox's Mono.
    assert other.account_name == sandbox_details(other.mono_account_id).name
    assert other.data_status == "AVAILABLE"
    # The worker logs JSON lines, one per task state change.
    task_lines = [json.loads(line) for line in worker.stdout.splitlines() if line.startswith('{"time"')]
    finished = [line for line in task_lines if line["logger"] == "django_tasks" and "SUCCESSFUL" in line["message"]]
    assert len(finished) == 3


@pytest.mark.postgres
def test_tasks_already_claimed_are_not_run_again_by_a_second_worker(transactional_db, settings, account):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    rules.flag_for_reauth(mono_account_id=account.mono_account_id)

    first = run_db_worker()
    second = run_db_worker()

    assert first.returncode == second.returncode == 0
    assert first.stdout.count("Subject: Reconnect your") == 1
    assert "Subject:" not in second.stdout
    result = DBTaskResult.objects.get()
    assert result.status == "SUCCESSFUL"
    assert len(result.worker_ids) == 1
