"""Webhook pipeline v2: every entry reaches pipeline.process(), hostile bodies never 500, the import
graph runs one way, event names live in one module, and the hot path's round trips are counted."""

import ast
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import LinkedAccount
from linking import exchange
from monolink.mono import events, payloads
from reauth import state
from staff.admin import deliveries as delivery_admin
from webhooks import handlers, parsing, pipeline
from webhooks.models import WebhookEvent

from .webhooks_support import ACCOUNT_ID, load, post, raw, snapshot

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def processed(monkeypatch):
    """Records each pipeline.process() run (which delivery it held, and how) and runs the real one:
    a call-through spy, so the entry tests prove the path without changing what it does."""
    runs = []
    real = pipeline.process

    def spy(hold, *, only_if):
        outcome = real(hold, only_if=only_if)
        runs.append({"hold": hold.func.__name__, "row": outcome.delivery and outcome.delivery.pk, "only_if": only_if})
        return outcome

    monkeypatch.setattr(pipeline, "process", spy)
    return runs


# --- one path: each entry point runs pipeline.process ---------------------------------------------


def test_http_delivery_runs_process_once(payload_account, processed):
    assert post(raw("reauthorisation_required.v2")).status_code == 200

    row = WebhookEvent.objects.get()
    assert processed == [{"hold": "_insert_or_find", "row": row.pk, "only_if": pipeline.RETRYABLE}]
    assert LinkedAccount.objects.get().reauth_required


def test_monos_retry_of_a_failed_delivery_runs_process_on_the_stored_row(payload_account, processed, monkeypatch):
    monkeypatch.setitem(handlers.HANDLERS, events.REAUTHORISATION_REQUIRED, lambda e, t: 1 / 0)
    assert post(raw("reauthorisation_required.v2")).status_code == 500
    monkeypatch.setitem(handlers.HANDLERS, events.REAUTHORISATION_REQUIRED, handlers.reauthorisation_required)

    assert post(raw("reauthorisation_required.v2")).status_code == 200

    row = WebhookEvent.objects.get()
    assert [run["row"] for run in processed] == [row.pk, row.pk]
    assert (row.status, row.attempts) == ("processed", 2)


def test_replay_webhooks_command_runs_process(payload_account, processed):
    post(raw("sync_failed.v1"))
    row = WebhookEvent.objects.get()
    processed.clear()

    call_command("replay_webhooks", "--id", str(row.pk), stdout=StringIO())

    assert processed == [{"hold": "_lock", "row": row.pk, "only_if": None}]
    row.refresh_from_db()
    assert row.attempts == 2


def test_admin_reprocess_runs_process(admin_client, payload_account, processed):
    post(raw("sync_failed.v1"))
    row = WebhookEvent.objects.get()
    processed.clear()

    admin_client.post(
        reverse("admin:webhooks_webhookevent_changelist"),
        {"action": "reprocess", "_selected_action": [row.pk], "index": 0},
    )

    assert processed == [{"hold": "_lock", "row": row.pk, "only_if": None}]


def test_linking_an_account_replays_its_parked_deliveries_through_process(
    user, processed, django_capture_on_commit_callbacks
):
    post(raw("reauthorisation_required.v1"))
    row = WebhookEvent.objects.get()
    assert row.status == "unmatched"
    processed.clear()

    with django_capture_on_commit_callbacks(execute=True):
        exchange.link_account(user=user, mono_account_id=ACCOUNT_ID)

    assert processed == [{"hold": "_lock", "row": row.pk, "only_if": {"unmatched"}}]
    row.refresh_from_db()
    assert row.status == "processed"
    assert LinkedAccount.objects.get().reauth_required


# --- hostile bodies: a clear 4xx, never a 500 ------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (nested(1000), "nested deeper than 32 levels"),
        (b'{"event": "mono.events.account_updated", "data": ' + nested(40) + b"}", "nested deeper than 32 levels"),
        (b'{"event": "x", "data": {}, "pad": "' + b"[" * 5000 + b'"}', None),  # brackets in a string do not count
    ],
)
def test_deep_json_is_400_and_stores_nothing(payload_account, body, message):
    response = post(body)

    if message is None:
        assert response.status_code == 200  # an unknown event, acknowledged
        assert WebhookEvent.objects.get().status == "ignored"
        return
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert WebhookEvent.objects.count() == 0


def updated_with(**account_fields) -> dict:
    payload = load("account_updated.v1")
    payload["data"]["account"].update(account_fields)
    return payload


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (updated_with(currency="NGNNGNNGN"), "'data.account.currency' is longer than 8 characters."),
        (updated_with(balance=10**30), "'data.account.balance' is out of range"),
        (updated_with(balance=-(10**30)), "'data.account.balance' is out of range"),
        (updated_with(name="A" * 256), "'data.account.name' is longer than 255 characters."),
        (updated_with(institution={"name": "B" * 129}), "'data.account.institution.name' is longer than 128"),
        (updated_with(institution={"bankCode": "1" * 17}), "'data.account.institution.bankCode' is longer than 16"),
    ],
)
def test_out_of_range_fields_are_stored_invalid_with_the_reason_and_change_nothing(payload_account, payload, reason):
    # On PostgreSQL these would have been a DataError (a 500 that Mono retries forever).
    before = snapshot(payload_account)

    first, again = post(payload), post(payload)

    assert (first.status_code, again.status_code) == (400, 400)
    assert reason in first.json()["detail"]
    row = WebhookEvent.objects.get()
    assert (row.status, row.event) == ("invalid", events.UPDATED)
    assert reason in row.error
    assert snapshot(payload_account) == before


def test_largest_fitting_values_are_stored(payload_account):
    response = post(updated_with(currency="ABCDEFGH", balance=2**63 - 1, name="A" * 255))

    assert response.status_code == 200
    payload_account.refresh_from_db()
    assert (payload_account.currency, payload_account.balance, payload_account.account_name) == (
        "ABCDEFGH",
        2**63 - 1,
        "A" * 255,
    )


def test_body_over_the_limit_is_413_on_the_declared_length_without_reading_it(payload_account, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100

    response = post(raw("account_updated.v1"))

    assert response.status_code == 413
    assert "limit is 100 bytes" in response.json()["detail"]
    assert WebhookEvent.objects.count() == 0


# --- one-way imports and one home for event names --------------------------------------------------


def imported_modules(folder: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [("accounts", ("webhooks",)), ("monolink", ("webhooks",)), ("monolink/mono", ("accounts", "webhooks"))],
)
def test_imports_run_downhill_webhooks_then_accounts_then_monolink(folder, forbidden):
    offenders = {
        path: sorted(name for name in names if name.split(".")[0] in forbidden)
        for path, names in imported_modules(folder).items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_event_names_come_from_one_module():
    assert set(handlers.HANDLERS) == set(events.ALL)
    assert {events.PREFIX + name for name in payloads.BUILDERS} == set(events.ALL)
    choices = delivery_admin.EventFilter(None, {}, WebhookEvent, None).lookup_choices
    assert [value for value, _label in choices] == list(events.ALL)
    for name in events.ALL:
        built = payloads.build(name, ACCOUNT_ID)
        assert parsing.parse_event(built).name == name == built["event"]


# --- rules touched by the pipeline -----------------------------------------------------------------


def test_a_newer_flag_on_a_flagged_account_only_advances_the_order_guard(payload_account):
    first = load("reauthorisation_required.v1") | {"event_id": "a", "timestamp": "2026-11-20T09:00:00Z"}
    later = load("reauthorisation_required.v1") | {"event_id": "b", "timestamp": "2026-11-20T10:00:00Z"}
    post(first)
    LinkedAccount.objects.update(reauth_notified_at=datetime(2026, 11, 20, 9, 1, tzinfo=UTC))  # emailed
    requested_at = LinkedAccount.objects.get().reauth_requested_at

    assert "unchanged" in post(later).json()["detail"]

    payload_account.refresh_from_db()
    assert payload_account.reauth_requested_at == requested_at
    assert payload_account.reauth_notified_at == datetime(2026, 11, 20, 9, 1, tzinfo=UTC)  # not emailed again
    assert payload_account.last_event_at.isoformat() == "2026-11-20T10:00:00+00:00"


def test_flag_on_an_unlinked_account_is_ignored(make_account):
    from django.utils import timezone

    make_account(mono_account_id=ACCOUNT_ID, unlinked_at=timezone.now())

    assert state.flag_for_reauth(mono_account_id=ACCOUNT_ID) == state.Change.IGNORED
    assert not LinkedAccount.objects.get().reauth_required


def test_staff_clearing_a_flag_logs_the_reason(make_account, caplog):
    make_account(mono_account_id=ACCOUNT_ID, reauth_required=True)

    assert state.clear_reauth_flag(mono_account_id=ACCOUNT_ID, reason="customer called") == state.Change.APPLIED

    assert "reason='customer called'" in caplog.text
    assert not LinkedAccount.objects.get().reauth_required


def test_account_admin_page_shows_its_deliveries_from_the_webhooks_app(admin_client, payload_account):
    post(raw("sync_failed.v1"))

    text = admin_client.get(reverse("admin:accounts_linkedaccount_change", args=[payload_account.pk])).text

    assert "Recent webhook deliveries" in text
    assert reverse("admin:webhooks_webhookevent_change", args=[WebhookEvent.objects.get().pk]) in text
