"""The replay_webhooks command and the pipeline's query budget."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import LinkedAccount
from webhooks import handlers
from webhooks.models import WebhookEvent

from .webhooks_support import ACCOUNT_ID, load, post, raw


def replay(*args) -> str:
    out = StringIO()
    call_command("replay_webhooks", *args, stdout=out, stderr=StringIO(), no_color=True)
    return out.getvalue()


def test_replay_failed_reprocesses_them_with_progress_and_a_summary(user, monkeypatch):
    monkeypatch.setitem(handlers.HANDLERS, "mono.events.reauthorisation_required", lambda e, t: 1 / 0)
    post(raw("reauthorisation_required.v1"))  # failed
    post(raw("sync_failed.v1"))  # unmatched
    monkeypatch.undo()
    LinkedAccount.objects.create(user=user, mono_account_id=ACCOUNT_ID)

    output = replay("--status", "failed")

    assert "Replaying 1 delivery." in output
    assert "[1/1]" in output and "mono.events.reauthorisation_required" in output and "-> processed" in output
    assert "Done: 1 replayed (processed 1)." in output
    assert WebhookEvent.objects.get(event="mono.events.reauthorisation_required").status == "processed"
    assert WebhookEvent.objects.get(event="mono.events.sync_failed").status == "unmatched"
    assert LinkedAccount.objects.get().reauth_required


def test_replay_by_ids_reports_each_outcome(user):
    post(raw("sync_failed.v1"))
    post(raw("account_connected.v1"))
    post(raw("unknown_event"))
    ids = list(WebhookEvent.objects.order_by("id").values_list("pk", flat=True))
    LinkedAccount.objects.create(user=user, mono_account_id=ACCOUNT_ID)

    output = replay("--id", str(ids[0]), "--id", str(ids[2]))

    assert "Replaying 2 deliveries." in output
    assert "Done: 2 replayed (ignored 1, processed 1)." in output
    assert WebhookEvent.objects.get(pk=ids[1]).status == "unmatched"  # not asked for


def test_replay_by_time_window(user):
    post(raw("sync_failed.v1"))
    WebhookEvent.objects.update(received_at="2026-01-01T12:00:00Z")
    post(raw("account_connected.v1"))
    LinkedAccount.objects.create(user=user, mono_account_id=ACCOUNT_ID)

    output = replay("--since", "2026-01-01", "--until", "2026-01-02T00:00:00Z")

    assert "Done: 1 replayed (processed 1)." in output
    assert WebhookEvent.objects.get(event="mono.events.account_connected").status == "unmatched"


def test_replay_that_fails_again_exits_with_an_error_after_the_summary(payload_account, monkeypatch):
    monkeypatch.setitem(handlers.HANDLERS, "mono.events.sync_failed", lambda e, t: 1 / 0)
    post(raw("sync_failed.v1"))
    out = StringIO()

    with pytest.raises(CommandError, match="1 delivery"):
        call_command("replay_webhooks", "--status", "failed", stdout=out, no_color=True)

    assert "Done: 1 replayed (failed 1)." in out.getvalue()
    assert WebhookEvent.objects.get().attempts == 2


def test_replay_needs_a_selection_and_a_valid_time(db):
    with pytest.raises(CommandError, match="Say what to replay"):
        replay()
    with pytest.raises(CommandError, match="Not an ISO date"):
        replay("--since", "last tuesday")
    assert replay("--status", "failed") == "Nothing to replay.\n"


def test_replay_of_an_id_that_does_not_exist_fails(db):
    with pytest.raises(CommandError, match="Nothing matched"):  # exit status 1 for a script
        replay("--id", "999")


def test_replay_dry_run_changes_nothing(db):
    post(raw("sync_failed.v1"))

    output = replay("--status", "unmatched", "--dry-run")

    assert "Would replay 1 delivery." in output and "[1/1]" in output
    assert WebhookEvent.objects.get().attempts == 1


# --- query budget: counted on the webhook request alone, as production runs it --------------------
# Outside a test transaction (transaction=True) so the count includes the BEGIN/COMMIT/ROLLBACK
# Django logs, and with Procrastinate queueing the follow-up in the same transaction (PostgreSQL).


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_new_event_and_duplicate_stay_within_the_query_budget(payload_account, procrastinate_backend):
    body = raw("reauthorisation_required.v2")
    with CaptureQueriesContext(connection) as new:
        assert post(body).status_code == 200
    with CaptureQueriesContext(connection) as duplicate:
        assert post(body).status_code == 200

    # One statement, committed on its own (no BEGIN, no COMMIT): the delivery's INSERT … ON CONFLICT
    # DO NOTHING, the flag's conditional UPDATE and the email job (webhooks.store).
    sql = [q["sql"] for q in new.captured_queries]
    assert len(sql) == 1, sql
    assert sql[0].startswith("WITH delivery AS (INSERT") and "ON CONFLICT" in sql[0]
    assert "UPDATE" in sql[0] and "procrastinate_defer_jobs_v1" in sql[0]
    assert ProcrastinateJob.objects.filter(task_name="accounts.tasks.send_reauth_email").count() == 1
    assert LinkedAccount.objects.get().reauth_required
    # The duplicate: the same statement finds the key taken without an error (so no ERROR line in
    # PostgreSQL's log, no ROLLBACK) and writes nothing, then one read of the stored row: two
    # statements, two round trips.
    dup = [q["sql"] for q in duplicate.captured_queries]
    assert len(dup) == 2, dup
    assert "ON CONFLICT" in dup[0] and dup[1].startswith("SELECT")
    assert WebhookEvent.objects.get().attempts == 1
    assert ProcrastinateJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_unknown_event_costs_one_insert(db, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # BEGIN, INSERT, COMMIT
        assert post(load("unknown_event")).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_one_statement_is_prepared_once_per_connection(make_account, procrastinate_backend, persistent_connection):
    """PostgreSQL parses and plans it once per connection, not per delivery (DATABASE_PREPARED_STATEMENTS)."""
    accounts = [make_account(mono_account_id=f"prepared-{n}") for n in range(7)]
    for account in accounts:
        body = {"event": "mono.events.reauthorisation_required", "data": {"account": {"_id": account.mono_account_id}}}
        assert post({**body, "event_id": f"ev-{account.mono_account_id}"}).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert [sql for sql in prepared if sql.startswith("WITH delivery AS")], prepared
    assert LinkedAccount.objects.filter(reauth_required=True).count() == 7
