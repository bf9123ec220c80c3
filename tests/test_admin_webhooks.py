"""Staff's WebhookEvent admin: a read-only delivery log, with Reprocess through the webhook pipeline."""

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from monolink.mono import payloads
from webhooks.models import WebhookEvent

LIST_URL = reverse("admin:webhooks_webhookevent_changelist")


def make_delivery(mono_account_id="5f171a530295e231abca0001", **fields):
    n = WebhookEvent.objects.count() + 1
    fields.setdefault("event", "mono.events.account_updated")
    fields.setdefault("event_id", f"evt-{n}")
    fields.setdefault("dedupe_key", f"evt-{n}")
    fields.setdefault("body", json.dumps({"event": fields["event"], "data": {"account": {"_id": mono_account_id}}}))
    fields.setdefault("status", WebhookEvent.Status.PROCESSED)
    return WebhookEvent.objects.create(mono_account_id=mono_account_id, **fields)


def change_url(event):
    return reverse("admin:webhooks_webhookevent_change", args=[event.pk])


@pytest.fixture
def viewer_client(db):
    viewer = User.objects.create_user("viewer", password="pw-view-12345", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client = Client()
    client.force_login(viewer)
    return client


def test_superuser_cannot_add_change_or_delete_a_delivery(admin_client, db):
    event = make_delivery()
    assert admin_client.get(reverse("admin:webhooks_webhookevent_add")).status_code == 403
    assert admin_client.get(reverse("admin:webhooks_webhookevent_delete", args=[event.pk])).status_code == 403
    response = admin_client.post(change_url(event), {"status": "failed", "event": "x"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    choices = dict(admin_client.get(LIST_URL).context["action_form"].fields["action"].choices)
    assert "delete_selected" not in choices


def test_detail_shows_body_pretty_printed_and_escaped_and_headers(admin_client, db):
    body = json.dumps({"event": "mono.events.account_updated", "data": {"name": "<script>alert(1)</script>"}})
    event = make_delivery(body=body, headers={"content-type": "application/json", "user-agent": "Mono"})
    text = admin_client.get(change_url(event)).text
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<pre>{\n  &quot;data&quot;: {\n    &quot;name&quot;" in text
    assert "&quot;user-agent&quot;: &quot;Mono&quot;" in text
    assert 'name="_save"' not in text


def test_detail_shows_a_body_that_is_not_json_as_received(admin_client, db):
    event = make_delivery(body="not json <b>", status=WebhookEvent.Status.INVALID)
    assert "<pre>not json &lt;b&gt;</pre>" in admin_client.get(change_url(event)).text


def test_list_shows_time_event_account_status_attempts_and_truncated_error(admin_client, db):
    make_delivery(status=WebhookEvent.Status.FAILED, attempts=3, error="boom " * 40)
    text = admin_client.get(LIST_URL).text
    assert "mono.events.account_updated" in text and "5f171a530295e231abca0001" in text
    assert "Failed" in text and "boom boom" in text
    assert "boom " * 40 not in text  # truncated in the list


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"event": "mono.events.sync_failed"}, {"sync"}),
        ({"status__exact": "failed"}, {"failed"}),
        ({"received": "24h"}, {"sync", "failed"}),
        ({"q": "5f171a530295e231abca0009"}, {"failed"}),
        ({"q": "evt-special"}, {"sync"}),
        ({"q": "5f171a53"}, set()),  # exact matches only, so the indexes serve the search
    ],
)
def test_filters_and_exact_search(admin_client, db, query, expected):
    rows = {
        "sync": make_delivery(event="mono.events.sync_failed", event_id="evt-special", dedupe_key="evt-special"),
        "failed": make_delivery("5f171a530295e231abca0009", status=WebhookEvent.Status.FAILED),
        "old": make_delivery(),
    }
    WebhookEvent.objects.filter(pk=rows["old"].pk).update(received_at=timezone.now() - timedelta(days=3))
    shown = {obj.pk for obj in admin_client.get(LIST_URL, query).context["cl"].result_list}
    assert shown == {rows[name].pk for name in expected}


def test_view_only_staff_reads_the_log_but_cannot_reprocess(viewer_client, db):
    event = make_delivery(status=WebhookEvent.Status.FAILED)
    response = viewer_client.get(LIST_URL)
    assert response.status_code == 200 and response.context["action_form"] is None
    assert viewer_client.get(change_url(event)).status_code == 200
    viewer_client.post(LIST_URL, {"action": "reprocess", "_selected_action": [event.pk], "index": 0})
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 0)


def test_deliveries_list_query_count_does_not_grow_with_rows(admin_client, db, django_assert_max_num_queries):
    def render():
        with django_assert_max_num_queries(8) as ctx:
            assert admin_client.get(LIST_URL).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(3):
        make_delivery()
    small = render()
    for _ in range(27):
        make_delivery()
    assert render() == small


# --- Reprocess: the same pipeline as replay_webhooks -------------------------------------------


def _reprocess(client, events):
    return client.post(LIST_URL, {"action": "reprocess", "_selected_action": [e.pk for e in events], "index": 0})


def test_reprocess_applies_a_failed_delivery_and_reports_once_for_the_selection(admin_client, account):
    failed = make_delivery(
        account.mono_account_id,
        event="mono.events.reauthorisation_required",
        body=json.dumps(payloads.reauthorisation_required(account.mono_account_id)),
        status=WebhookEvent.Status.FAILED,
        attempts=1,
        error="RuntimeError: boom",
    )
    unmatched = make_delivery(
        "5f171a530295e231abcaffff",
        event="mono.events.reauthorisation_required",
        body=json.dumps(payloads.reauthorisation_required("5f171a530295e231abcaffff")),
        status=WebhookEvent.Status.UNMATCHED,
    )
    response = _reprocess(admin_client, [failed, unmatched])
    assert response.status_code == 302

    account.refresh_from_db()
    failed.refresh_from_db()
    assert account.reauth_required is True
    assert (failed.status, failed.attempts, failed.error) == (WebhookEvent.Status.PROCESSED, 2, "")
    shown = [str(m) for m in admin_client.get(LIST_URL).context["messages"]]
    assert shown == ["Reprocessed 2 deliveries: 1 processed, 1 unmatched."]
    assert set(LogEntry.objects.values_list("object_id", flat=True)) == {str(failed.pk), str(unmatched.pk)}


def test_reprocess_of_a_body_that_is_not_json_reports_an_error_and_does_not_crash(admin_client, db):
    junk = make_delivery(body="not json", status=WebhookEvent.Status.FAILED)
    response = _reprocess(admin_client, [junk])
    assert response.status_code == 302
    messages = list(admin_client.get(LIST_URL).context["messages"])
    assert len(messages) == 1 and messages[0].level_tag == "error" and "not JSON" in str(messages[0])
    junk.refresh_from_db()
    assert junk.status == WebhookEvent.Status.INVALID


def test_sandbox_send_reauthorisation_required_goes_through_the_pipeline(admin_client, account, settings):
    settings.MONO_SANDBOX = True
    url = reverse("admin:accounts_linkedaccount_changelist")
    confirm = admin_client.post(url, {"action": "send_reauth_required", "_selected_action": [account.pk], "index": 0})
    assert confirm.status_code == 200 and "Are you sure" in confirm.text
    assert not WebhookEvent.objects.exists()

    admin_client.post(
        url, {"action": "send_reauth_required", "_selected_action": [account.pk], "index": 0, "post": "yes"}
    )
    account.refresh_from_db()
    assert account.reauth_required is True
    row = WebhookEvent.objects.get()
    assert (row.event, row.mono_account_id, row.status) == (
        "mono.events.reauthorisation_required",
        account.mono_account_id,
        WebhookEvent.Status.PROCESSED,
    )
    assert settings.MONO_WEBHOOK_SECRET not in json.dumps(row.headers)
    shown = [str(m) for m in admin_client.get(url).context["messages"]]
    assert shown == ["Sent reauthorisation_required for 1 account through the webhook endpoint's pipeline."]
