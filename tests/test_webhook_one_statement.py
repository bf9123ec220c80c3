"""The webhook's one statement (webhooks.store) is the PostgreSQL form of the general path: the same
sequence of events leaves the same rows either way, racing copies still apply once, and the job it
writes through Procrastinate's own defer function is the job Procrastinate's defer writes."""

import json

import pytest
from django.db import connection
from procrastinate import sql as procrastinate_sql
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import LinkedAccount
from monolink.taskqueue import DEFER_JOBS_SQL, defer, job_to_defer
from notifications.tasks import send_reauth_email
from tests.concurrency.test_webhook_races import race
from webhooks import store
from webhooks.models import WebhookEvent

from .webhooks_support import post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

T = 1763629200  # Mono's timestamp of the first event, in seconds


def event(name: str, account: str, *, at: int | None, event_id: str) -> dict:
    body = {"event": f"mono.events.{name}", "event_id": event_id, "data": {"account": {"_id": account}}}
    if at is not None:
        body["timestamp"] = at
    return body


# Each scenario: events (name, seconds after T or None for no timestamp, event id), sent in order.
SCENARIOS = {
    "new flag": [("reauthorisation_required", 0, "a")],
    "Mono's repeat of a flag": [("reauthorisation_required", 0, "a"), ("reauthorisation_required", 5, "b")],
    "duplicate delivery": [("reauthorisation_required", 0, "a"), ("reauthorisation_required", 0, "a")],
    "stale flag after a re-auth": [
        ("reauthorisation_required", 0, "a"),
        ("account_reauthorized", 10, "b"),
        ("reauthorisation_required", 5, "c"),
    ],
    "newer flag after a re-auth": [
        ("reauthorisation_required", 0, "a"),
        ("account_reauthorized", 10, "b"),
        ("reauthorisation_required", 20, "c"),
    ],
    "flag on an unlinked account": [("account_unlinked", 0, "a"), ("reauthorisation_required", 5, "b")],
    "flag without a timestamp": [("reauthorisation_required", None, "a"), ("reauthorisation_required", None, "b")],
    "unknown account": [("reauthorisation_required", 0, "a@unknown")],
}


def run(events, *, account_id: str, one_statement: bool, monkeypatch) -> dict:
    """Send the events to a fresh account; return every row they leave, without ids and clocks."""
    monkeypatch.setattr(store, "one_statement_applies", store.one_statement_applies if one_statement else _never)
    answers = []
    for name, offset, event_id in events:
        target = "unknown-" + account_id if event_id.endswith("@unknown") else account_id
        at = None if offset is None else T + offset
        answer = post(event(name, target, at=at, event_id=f"{account_id}-{event_id}"))
        detail = answer.json()["detail"].replace(f"#{_last_pk()}", "#N").replace(account_id, "ACCOUNT")
        answers.append((answer.status_code, detail))
    monkeypatch.undo()
    account = LinkedAccount.objects.get(mono_account_id=account_id)
    deliveries = list(WebhookEvent.objects.filter(event_id__startswith=f"{account_id}-").order_by("id"))
    return {
        "answers": answers,
        "account": {
            "reauth_required": account.reauth_required,
            "requested": account.reauth_requested_at is not None,
            "completed": account.reauth_completed_at is not None,
            "unlinked": account.unlinked_at is not None,
            "notified": account.reauth_notified_at is not None,
            # Timestamp-less events are ordered by arrival: the guard holds the last delivery's arrival.
            "last_event_at": "received_at"
            if deliveries and account.last_event_at == deliveries[-1].received_at
            else account.last_event_at,
        },
        "deliveries": [(d.event, d.status, d.attempts, d.error, d.occurred_at) for d in deliveries],
        "jobs": sorted(
            tuple(
                str(value).replace(account_id, "ACCOUNT")
                for value in (j.task_name, j.queue_name, j.lock, j.queueing_lock, json.dumps(j.args), j.status)
            )
            for j in ProcrastinateJob.objects.filter(args__mono_account_id=account_id)
        ),
    }


def _never(event, handler) -> bool:
    return False


def _last_pk():
    return WebhookEvent.objects.order_by("-id").values_list("id", flat=True).first()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_one_statement_leaves_the_rows_the_general_path_leaves(scenario, make_account, settings, monkeypatch):
    settings.TASKS_BACKEND = "procrastinate"
    fast, general = make_account(mono_account_id="acct-fast"), make_account(mono_account_id="acct-general")

    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        by_one_statement = run(
            SCENARIOS[scenario], account_id=fast.mono_account_id, one_statement=True, monkeypatch=monkeypatch
        )
    by_general_path = run(
        SCENARIOS[scenario], account_id=general.mono_account_id, one_statement=False, monkeypatch=monkeypatch
    )

    assert by_one_statement == by_general_path
    assert any(sql.startswith("WITH delivery AS") for sql in statements)  # it did run the one statement


def test_in_process_tasks_keep_the_general_path(payload_account, settings):
    """The statement queues its job through Procrastinate's table; in-process tasks have none."""
    settings.TASKS_BACKEND = "in_process"
    body = event("reauthorisation_required", payload_account.mono_account_id, at=T, event_id="in-process")
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert post(body).json()["detail"] == "Processed: applied."

    assert statements and not any(sql.startswith("WITH delivery AS") for sql in statements)
    payload_account.refresh_from_db()
    assert payload_account.reauth_required


def test_racing_copies_of_a_new_flag_write_one_delivery_one_flag_and_one_job(payload_account, procrastinate_backend):
    body = event("reauthorisation_required", payload_account.mono_account_id, at=T, event_id="race")

    answers = race([lambda: post(body) for _ in range(8)])

    assert [a.status_code for a in answers] == [200] * 8
    assert sum(a.json()["detail"] == "Processed: applied." for a in answers) == 1
    assert WebhookEvent.objects.get().attempts == 1
    assert ProcrastinateJob.objects.filter(task_name="accounts.tasks.send_reauth_email").count() == 1
    payload_account.refresh_from_db()
    assert payload_account.reauth_required


# --- the job row: Procrastinate's schema and its own defer, pinned ---------------------------------


def test_procrastinates_defer_sql_is_the_function_the_one_statement_calls():
    # If Procrastinate changes how it defers (a _v2 function, another row type), this fails first.
    assert DEFER_JOBS_SQL.split("(")[0] in procrastinate_sql.queries["defer_jobs"]
    assert "::procrastinate_job_to_defer_v1[]" in procrastinate_sql.queries["defer_jobs"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'procrastinate_job_to_defer_v1'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
        row_type = [name for (name,) in cursor.fetchall()]
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'procrastinate_jobs'")
        job_columns = {name for (name,) in cursor.fetchall()}
    fields = list(job_to_defer(send_reauth_email, lock="mail:x", mono_account_id="x", step=0)._fields)
    assert (
        row_type == fields == ["queue_name", "task_name", "priority", "lock", "queueing_lock", "args", "scheduled_at"]
    )
    assert set(fields) <= job_columns


def test_job_to_defer_is_the_row_procrastinates_own_defer_passes():
    ours = job_to_defer(send_reauth_email, lock="mail:x", mono_account_id="x", step=0)
    job = send_reauth_email.configure(lock="mail:x").make_new_job(mono_account_id="x", step=0)
    theirs = app.job_manager._defer_jobs_query_kwargs(jobs=[job])["jobs"][0]

    assert ours._replace(args=ours.args.obj) == theirs
    assert (ours.queue_name, ours.lock, ours.queueing_lock, ours.scheduled_at) == ("mail", "mail:x", None, None)


def test_a_job_written_by_the_one_statements_sql_equals_one_written_by_defer(db, procrastinate_backend):
    defer(send_reauth_email, lock="mail:x", mono_account_id="x", step=0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT unnest({DEFER_JOBS_SQL})",
            {"jobs": [job_to_defer(send_reauth_email, lock="mail:x", mono_account_id="x", step=0)]},
        )

    columns = (
        "task_name",
        "queue_name",
        "priority",
        "lock",
        "queueing_lock",
        "args",
        "status",
        "scheduled_at",
        "attempts",
    )
    by_defer, by_statement = ProcrastinateJob.objects.order_by("id").values_list(*columns)
    assert by_statement == by_defer
