"""`manage.py mono_trigger`: Mono-shaped webhooks sent to a running server, like `stripe trigger`."""

import os
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from monolink.mono import payloads
from webhooks.management.commands.mono_trigger import Command

ACCOUNT = "5f171a530295e231abca1153"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/webhooks/mono/"  # nothing listens there any more


def trigger(*args, **options) -> str:
    out = StringIO()
    call_command("mono_trigger", *args, stdout=out, **options)
    return out.getvalue()


def test_reauthorisation_required_is_sent_in_monos_shape_with_the_secret(receiver, settings):
    settings.MONO_WEBHOOK_SECRET = "whsec-from-settings"

    output = trigger("reauthorisation_required", "--account", ACCOUNT, "--url", receiver.url, "--secret", "whsec-cli")

    (request,) = receiver.received
    assert request["path"] == "/webhooks/mono/"
    assert request["headers"]["mono-webhook-secret"] == "whsec-cli"
    assert request["headers"]["content-type"] == "application/json"
    body = request["json"]
    assert body["event"] == "mono.events.reauthorisation_required"
    assert body["data"] == {"account": {"_id": ACCOUNT}}
    assert body["event_id"] and body["timestamp"].endswith("Z")
    assert "200 OK" in output
    assert '"status": "processed"' in output
    assert "whsec-cli" not in output


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ("account_connected", lambda d: d["id"]),
        ("mono.events.account_reauthorized", lambda d: d["account"]["_id"]),
        ("sync_failed", lambda d: d["account"]["_id"]),
        ("mono.events.account_unlinked", lambda d: d["account"]["id"]),
        ("account_updated", lambda d: d["account"]["_id"]),
    ],
)
def test_each_event_puts_the_account_id_where_mono_does(receiver, event, where):
    trigger(event, "--account", ACCOUNT, "--url", receiver.url)
    body = receiver.received[0]["json"]
    assert body["event"] == "mono.events." + event.removeprefix("mono.events.")
    assert where(body["data"]) == ACCOUNT


def test_secret_defaults_to_the_settings_one_read_of_the_environment(receiver, settings, monkeypatch):
    settings.MONO_WEBHOOK_SECRET = "whsec-from-settings"
    monkeypatch.setenv("MONO_WEBHOOK_SECRET", "whsec-read-again")  # the settings already read it once
    trigger("sync_failed", "--account", ACCOUNT, "--url", receiver.url)

    assert [r["headers"]["mono-webhook-secret"] for r in receiver.received] == ["whsec-from-settings"]


def test_account_updated_carries_details_and_sync_status(receiver):
    trigger(
        "account_updated",
        "--account",
        ACCOUNT,
        "--url",
        receiver.url,
        "--data-status",
        "PARTIAL",
        "--sync-status",
        "REAUTHORISATION_REQUIRED",
    )
    data = receiver.received[0]["json"]["data"]
    assert data["meta"]["data_status"] == "PARTIAL"
    assert data["meta"]["sync_status"] == "REAUTHORISATION_REQUIRED"
    assert set(data["account"]) >= {"_id", "name", "accountNumber", "currency", "balance", "type", "institution"}
    assert set(data["account"]["institution"]) == {"name", "bankCode", "type"}
    assert isinstance(data["account"]["balance"], int)


def test_sync_status_is_refused_for_other_events(receiver):
    with pytest.raises(CommandError, match="account_updated only"):
        trigger("reauthorisation_required", "--account", ACCOUNT, "--url", receiver.url, "--sync-status", "X")
    assert receiver.received == []


def test_bad_event_name_lists_the_supported_events(receiver):
    with pytest.raises(CommandError) as caught:
        trigger("reauth_please", "--account", ACCOUNT, "--url", receiver.url)
    for name in payloads.BUILDERS:
        assert name in str(caught.value)
    assert receiver.received == []


def test_help_lists_the_events():
    text = Command().create_parser("manage.py", "mono_trigger").format_help()
    for name in payloads.BUILDERS:
        assert name in text


def test_non_2xx_answer_is_printed_and_fails(receiver):
    receiver.status, receiver.answer = 401, {"detail": "Invalid webhook secret."}
    out = StringIO()
    with pytest.raises(CommandError, match="401"):
        call_command("mono_trigger", "account_reauthorized", "--account", ACCOUNT, "--url", receiver.url, stdout=out)
    assert "401" in out.getvalue()
    assert "Invalid webhook secret." in out.getvalue()


def test_connection_refused_is_a_clear_error(closed_port_url):
    with pytest.raises(CommandError, match=r"Could not connect .* is the server running"):
        trigger("account_reauthorized", "--account", ACCOUNT, "--url", closed_port_url)


def _run(*args):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "monolink.test_settings"}
    return subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", "mono_trigger", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_from_the_shell_connection_refused_exits_nonzero_without_a_traceback(closed_port_url):
    result = _run("reauthorisation_required", "--account", ACCOUNT, "--url", closed_port_url)
    assert result.returncode != 0
    assert "Could not connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_from_the_shell_bad_event_exits_nonzero_naming_the_choices():
    result = _run("nope", "--account", ACCOUNT)
    assert result.returncode != 0
    assert "reauthorisation_required" in result.stderr
    assert "Traceback" not in result.stderr


def test_connection_error_names_the_url_option(closed_port_url):
    with pytest.raises(CommandError, match=r"give its endpoint with --url"):
        trigger("account_reauthorized", "--account", ACCOUNT, "--url", closed_port_url)


def test_default_url_follows_site_url(receiver, settings):
    settings.SITE_URL = receiver.url.removesuffix("/webhooks/mono/")  # e.g. PORT=8001 ./dev run

    output = trigger("account_reauthorized", "--account", ACCOUNT)

    assert f"POST {settings.SITE_URL}/webhooks/mono/" in output
    assert [r["path"] for r in receiver.received] == ["/webhooks/mono/"]
