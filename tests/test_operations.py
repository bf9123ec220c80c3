"""Operations: liveness and readiness, the metrics endpoint, request ids on log lines, Sentry's scrub."""

import io
import json
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import responses
import sentry_sdk
from django.db import connection, connections, transaction
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob
from prometheus_client.parser import text_string_to_metric_families
from sentry_sdk.transport import Transport

from accounts.models import Notification
from monolink.log_context import ContextFilter
from monolink.logs import JsonFormatter, RedactSecretsFilter
from monolink.mono import MonoUnavailable
from monolink.mono.client import MonoClient
from monolink.sentry import FILTERED, scrub
from notifications import tasks as notification_tasks
from reauth import tasks as reauth_tasks
from webhooks import handlers
from webhooks.models import WebhookEvent

from .webhooks_support import load, post, raw

TOKEN = "metrics-token-for-the-tests"


@pytest.fixture
def broken_database():
    """New connections (the checks run in their own threads) go to a database that cannot open."""
    settings_dict = connections["default"].settings_dict
    saved = dict(settings_dict)
    if settings_dict["ENGINE"].endswith("sqlite3"):
        settings_dict["NAME"] = "/nonexistent-directory/monolink.sqlite3"
    else:
        settings_dict.update(PORT="1", OPTIONS={**settings_dict.get("OPTIONS", {}), "connect_timeout": 1})
    yield
    settings_dict.clear()
    settings_dict.update(saved)


# --- health ------------------------------------------------------------------------------------------


def test_liveness_is_200_without_a_query(client):
    response = client.get("/healthz")  # no db fixture: pytest-django fails any query

    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_liveness_stays_200_when_the_database_is_down(client, broken_database):
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_readiness_is_200_with_the_database_and_migrations_in_place(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.django_db(transaction=True)
def test_readiness_is_503_when_the_database_is_down_and_tells_why_only_with_the_token(
    client, settings, broken_database
):
    settings.HEALTH_CHECK_TOKEN = "health-token-for-the-tests"

    anonymous = client.get("/readyz")
    operator = client.get("/readyz?format=json", headers={"Authorization": "Bearer health-token-for-the-tests"})

    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "unavailable"}  # no check names, no error text for the public
    assert operator.status_code == 503
    details = operator.json()
    assert details["DatabaseReachable(alias='default')"].startswith("Unavailable")
    assert "nonexistent-directory" not in json.dumps(details)


@pytest.mark.django_db(transaction=True)
def test_staff_see_which_check_passed(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    client.force_login(staff)

    response = client.get("/readyz?format=json")

    assert response.status_code == 200
    assert response.json() == {"DatabaseReachable(alias='default')": "OK", "MigrationsApplied()": "OK"}


# --- metrics -----------------------------------------------------------------------------------------


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.mark.parametrize(
    ("headers", "remote_addr", "allowed"),
    [
        ({}, "203.0.113.9", []),  # nothing offered
        ({"Authorization": "Bearer wrong-token"}, "127.0.0.1", []),
        ({"Authorization": f"Basic {TOKEN}"}, "127.0.0.1", []),
        ({}, "203.0.113.9", ["127.0.0.1"]),  # not an allowed address
        # Allowed address, but through the proxy (every request the proxy forwards comes from it).
        ({"X-Forwarded-For": "198.51.100.7"}, "127.0.0.1", ["127.0.0.1"]),
    ],
)
def test_metrics_refuses_the_unauthorised(client, settings, metrics_token, headers, remote_addr, allowed):
    settings.METRICS_ALLOWED_IPS = allowed

    response = client.get("/metrics", headers=headers, REMOTE_ADDR=remote_addr)

    assert response.status_code == 401
    assert b"monolink_" not in response.content


def test_metrics_answer_a_direct_request_from_an_allowed_network(client, settings, db):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    assert b"monolink_metrics_database_up 1.0" in response.content


def test_metrics_count_a_webhook_delivery_by_event_and_outcome(client, metrics_token, payload_account):
    event = "mono.events.reauthorisation_required"
    before = scrape(client)

    assert post(raw("reauthorisation_required.v2")).status_code == 200
    assert post(raw("reauthorisation_required.v2")).status_code == 200  # Mono's duplicate
    assert post(raw("reauthorisation_required.v2"), secret="wrong").status_code == 401
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("monolink_webhook_deliveries_total", event=event, outcome="processed") == 1
    assert delta("monolink_webhook_deliveries_total", event=event, outcome="duplicate") == 1
    assert delta("monolink_webhook_deliveries_total", event="none", outcome="unauthorized") == 1
    assert delta("monolink_webhook_processing_seconds_count", event=event) == 2
    # django-prometheus' request basics are on the same page.
    assert value(after, "django_http_requests_total_by_method_total", method="POST") >= 3


def test_metrics_gauges_count_accounts_by_reauth_state(client, metrics_token, make_account):
    now = timezone.now()
    make_account(reauth_required=True)
    make_account(reauth_required=True, reauth_submitted_at=now)  # awaiting Mono's confirmation
    make_account(reauth_required=True, unlinked_at=now)  # unlinked: never counts
    make_account(reauth_completed_at=now - timedelta(minutes=5))
    make_account(reauth_completed_at=now - timedelta(hours=5))
    emailed = make_account(reauth_required=True, reauth_requested_at=now - timedelta(days=2))
    Notification.objects.create(
        account=emailed, flagged_at=emailed.reauth_requested_at, step=0, sent_at=now - timedelta(days=2)
    )
    Notification.objects.create(
        account=emailed, flagged_at=emailed.reauth_requested_at, step=1, sent_at=now - timedelta(minutes=1)
    )

    samples = scrape(client)

    assert value(samples, "monolink_accounts_reauth", state="flagged") == 3
    assert value(samples, "monolink_accounts_reauth", state="awaiting_confirmation") == 1
    assert value(samples, "monolink_accounts_reauth", state="needing_user") == 2
    assert value(samples, "monolink_accounts_reconnected", window="1h") == 1
    assert value(samples, "monolink_accounts_reconnected", window="24h") == 2
    assert value(samples, "monolink_notifications_sent", kind="reminders", window="1h") == 1
    assert value(samples, "monolink_notifications_sent", kind="first_emails", window="24h") == 0


@responses.activate
def test_metrics_count_mono_calls_by_endpoint_and_outcome(client, metrics_token, settings, db):
    settings.MONO_MAX_RETRIES = 0
    base = "https://api.withmono.test"
    mono = MonoClient(secret_key="test_sk_metrics", base_url=base, api_version="v2")
    responses.get(f"{base}/v2/accounts/acc_1", json={"data": load("account_updated.v2")["data"]})
    responses.get(f"{base}/v2/accounts/acc_2", status=503)
    endpoint = "GET /v2/accounts/{id}"
    before = scrape(client)

    mono.get_account("acc_1")
    with pytest.raises(MonoUnavailable):
        mono.get_account("acc_2")
    after = scrape(client)

    for outcome in ("ok", "MonoUnavailable"):
        labels = {"endpoint": endpoint, "outcome": outcome}
        assert (
            value(after, "monolink_mono_api_calls_total", **labels)
            - value(before, "monolink_mono_api_calls_total", **labels)
            == 1
        )
    assert (
        value(after, "monolink_mono_api_call_seconds_count", endpoint=endpoint)
        - value(before, "monolink_mono_api_call_seconds_count", endpoint=endpoint)
        == 2
    )


# --- request ids on log lines --------------------------------------------------------------------------


@pytest.fixture
def log_lines():
    """The production handler's filters and formatter on a buffer: what stdout would show."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = logging.getLogger("monolink.request").level
    logging.getLogger("monolink.request").setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    logging.getLogger("monolink.request").setLevel(previous)


def test_request_id_is_generated_returned_and_on_the_request_line(client, db, log_lines):
    response = client.get("/accounts/login/?next=/secret-path")

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    [line] = [line for line in log_lines() if line["logger"] == "monolink.request"]
    assert line["request_id"] == request_id
    assert (line["method"], line["path"], line["status"]) == ("GET", "/accounts/login/", 200)
    assert line["message"].startswith("GET /accounts/login/ 200 ")
    assert "secret-path" not in json.dumps(line)  # no query string


def test_webhook_lines_carry_the_request_delivery_and_mono_event_ids(client, payload_account, log_lines):
    payload = load("reauthorisation_required.v2")

    response = post(payload, headers={"X-Request-ID": "proxy-id-0001"}, REMOTE_ADDR="127.0.0.1")

    assert response["X-Request-ID"] == "proxy-id-0001"  # from a trusted proxy: kept
    pipeline_lines = [line for line in log_lines() if line["logger"] == "webhooks.pipeline"]
    assert pipeline_lines
    delivery = pipeline_lines[-1]["delivery"]
    assert delivery == WebhookEvent.objects.get().pk
    for line in pipeline_lines:
        assert (line["request_id"], line["mono_event_id"]) == ("proxy-id-0001", payload["event_id"])


@pytest.mark.postgres
def test_the_line_that_queues_a_job_names_the_request_and_delivery_behind_it(
    payload_account,
    log_lines,
    procrastinate_backend,  # a real job row, so a real job id
):
    post(load("reauthorisation_required.v2"), headers={"X-Request-ID": "proxy-id-0002"}, REMOTE_ADDR="127.0.0.1")

    # The delivery's one INFO line names its job (queued in the same statement on PostgreSQL).
    info = [line for line in log_lines() if line["level"] == "INFO"]
    assert [line["logger"] for line in info] == ["webhooks.pipeline"]
    job = ProcrastinateJob.objects.get(task_name="accounts.tasks.send_reauth_email")
    assert info[0]["job"] == job.id and f" job={job.id}: " in info[0]["message"]  # the worker's lines name it too
    assert (info[0]["request_id"], info[0]["delivery"]) == ("proxy-id-0002", WebhookEvent.objects.get().pk)


@pytest.mark.parametrize(
    ("offered", "remote_addr"),
    [
        ("proxy-id-0001", "203.0.113.9"),  # not from a trusted proxy
        ("bad id\nwith a newline", "127.0.0.1"),  # trusted, but not an id we write to a log
        ("x" * 200, "127.0.0.1"),
    ],
)
def test_request_id_from_an_untrusted_sender_or_malformed_is_replaced(client, db, offered, remote_addr):
    response = client.get("/healthz", headers={"X-Request-ID": offered}, REMOTE_ADDR=remote_addr)

    assert response["X-Request-ID"] != offered
    assert len(response["X-Request-ID"]) == 32


# --- Sentry ---------------------------------------------------------------------------------------------


class CapturingTransport(Transport):
    events: list[dict] = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "event":
                self.events.append(item.payload.json)


@pytest.fixture
def sentry_events():
    from monolink import sentry

    CapturingTransport.events = []
    sentry.init(dsn="https://public@sentry.example.invalid/1", environment="test", release="", traces_sample_rate=0)
    sentry_sdk.get_client().transport = CapturingTransport(sentry_sdk.get_client().options)
    yield CapturingTransport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: off again


def test_sentry_events_leave_without_secrets_tokens_or_personal_data(
    sentry_events, settings, payload_account, monkeypatch
):
    settings.MONO_SECRET_KEY = "live_sk_abcdefghijklmnop1234"
    # Made at run time: the SDK also sends source lines around each frame, and those may quote a literal.
    token = "reauth-token-" + secrets.token_hex(8)
    cookie = secrets.token_hex(8)

    def failing_handler(event, occurred_at):
        webhook_secret = settings.MONO_WEBHOOK_SECRET  # in the frame's local variables
        email = "ada@example.com"
        account_number = "0123456789"
        reauth_code = token  # a credential under a name that says so
        raise RuntimeError(f"bank said no to {email} {account_number} ({webhook_secret}, {len(reauth_code)})")

    monkeypatch.setitem(handlers.HANDLERS, "mono.events.reauthorisation_required", failing_handler)
    response = post(raw("reauthorisation_required.v2"), headers={"Cookie": f"sessionid={cookie}"})
    try:
        raise ValueError(f"mono key {settings.MONO_SECRET_KEY}")
    except ValueError as exc:
        mono_secret_key = settings.MONO_SECRET_KEY  # noqa: F841 (a local the SDK reports)
        sentry_sdk.capture_exception(exc)
    sentry_sdk.flush()

    assert response.status_code == 500
    assert len(sentry_events) >= 2
    sent = json.dumps(sentry_events)
    for secret in (
        settings.MONO_WEBHOOK_SECRET,
        settings.MONO_SECRET_KEY,
        token,
        "ada@example.com",
        "0123456789",
        cookie,
    ):
        assert secret not in sent, secret
    assert "RuntimeError" in sent and "ValueError" in sent  # the report is still useful
    assert FILTERED in sent


def test_scrub_keeps_the_stack_and_drops_request_bodies_cookies_and_user_details():
    event = {
        "exception": {
            "values": [
                {
                    "type": "KeyError",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "accounts/rules.py",
                                "function": "flag_for_reauth",
                                "vars": {"reauth_code": "tok-123456"},
                            }
                        ]
                    },
                }
            ]
        },
        "request": {
            "method": "POST",
            "url": "https://monolink.example.com/webhooks/mono/",
            "headers": {"Mono-Webhook-Secret": "whsec-xyz", "Authorization": "Bearer abc", "User-Agent": "Mono"},
            "cookies": {"sessionid": "s"},
            "data": '{"data": {"account": {"name": "ADA LOVELACE"}}}',
            "query_string": "code=widget-code",
        },
        "user": {"id": 7, "email": "ada@example.com", "username": "ada", "ip_address": "198.51.100.7"},
    }

    clean = scrub(event, {})

    frame = clean["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert (frame["filename"], frame["function"]) == ("accounts/rules.py", "flag_for_reauth")
    assert "vars" not in frame  # frame variables never leave, filtered or not
    headers = clean["request"]["headers"]
    assert headers == {"Mono-Webhook-Secret": FILTERED, "Authorization": FILTERED, "User-Agent": "Mono"}
    assert clean["request"]["cookies"] == clean["request"]["data"] == clean["request"]["query_string"] == FILTERED
    assert clean["request"]["method"] == "POST"
    assert clean["user"] == {"id": 7}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_readiness_gives_up_on_a_check_stuck_behind_a_lock(client, settings, monkeypatch):
    """A migration running elsewhere holds django_migrations: the probe answers 503, not never."""
    from operations import health

    settings.HEALTH_CHECK_TIMEOUT = 0.5
    settings.HEALTH_CHECK_TOKEN = "health-token-for-the-tests"
    monkeypatch.setattr(health, "_migrations_applied", False)  # a process that has not checked yet
    locker = connections.create_connection("default")
    try:
        locker.set_autocommit(False)
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE django_migrations IN ACCESS EXCLUSIVE MODE")
        response = client.get("/readyz?format=json", headers={"Authorization": "Bearer health-token-for-the-tests"})
    finally:
        locker.rollback()
        locker.close()

    assert response.status_code == 503
    assert response.json()["MigrationsApplied()"].startswith("Unavailable")


# --- tasks: queue gauges, readiness, and the ids of what queued a job ---------------------------------


def run_queued_jobs(queue: str) -> None:
    """One real Procrastinate worker pass (as `run_worker` runs it, middleware included), on the
    worker connector, in a thread of its own: asyncio.run() refuses a thread that runs a loop."""
    from procrastinate.contrib.django import app

    worker_app = app.with_connector(app.connector.get_worker_connector())
    options = {"wait": False, "install_signal_handlers": False, "listen_notify": False, "delete_jobs": "never"}
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(worker_app.run_worker, queues=[queue], **options).result()


@pytest.mark.postgres
def test_a_job_logs_its_id_and_task(transactional_db, payload_account, procrastinate_backend, log_lines):
    from procrastinate.contrib.django.models import ProcrastinateJob

    assert post(raw("reauthorisation_required.v2")).status_code == 200
    job = ProcrastinateJob.objects.get(task_name="accounts.tasks.send_reauth_email")
    run_queued_jobs("mail")

    job.refresh_from_db()
    assert job.status == "succeeded"
    [sent] = [line for line in log_lines() if line["message"].startswith("re-auth email sent")]
    assert (sent["job"], sent["task"]) == (job.pk, "accounts.tasks.send_reauth_email")
    assert sent["request_id"] == "-"  # the job is not the request


@pytest.mark.postgres
def test_metrics_and_readiness_read_the_task_queue(
    transactional_db, client, settings, metrics_token, procrastinate_backend
):
    from monolink.taskqueue import defer

    settings.HEALTH_CHECK_TOKEN = "health-token-for-the-tests"
    settings.HEALTH_QUEUE_MAX_AGE = timedelta(seconds=60)
    with transaction.atomic():
        defer(notification_tasks.send_reauth_email, mono_account_id="acc-1")
        defer(notification_tasks.send_reauth_email, mono_account_id="acc-2")
        reauth_tasks.refresh_account_details.configure(schedule_in={"minutes": 5}).defer(mono_account_id="acc-3")
    with connection.cursor() as cursor:  # the first mail job has waited ten minutes
        cursor.execute(
            "UPDATE procrastinate_events SET at = now() - interval '10 minutes' "
            "WHERE job_id = (SELECT min(id) FROM procrastinate_jobs) AND type = 'deferred'"
        )

    no_worker = client.get("/readyz?format=json", headers={"Authorization": "Bearer health-token-for-the-tests"})
    with connection.cursor() as cursor:  # a worker that has just sent its heartbeat
        cursor.execute("INSERT INTO procrastinate_workers DEFAULT VALUES")
    late_job = client.get("/readyz?format=json", headers={"Authorization": "Bearer health-token-for-the-tests"})
    samples = scrape(client)

    assert no_worker.status_code == 503
    assert "No task worker" in no_worker.json()["TaskQueue()"]
    assert late_job.status_code == 503
    assert "queue mail: a job has waited" in late_job.json()["TaskQueue()"]
    assert value(samples, "monolink_task_jobs", queue="mail", state="ready") == 2
    assert value(samples, "monolink_task_jobs", queue="mono", state="scheduled") == 1
    assert value(samples, "monolink_task_jobs", queue="maintenance", state="ready") == 0
    assert 590 < value(samples, "monolink_task_oldest_ready_age_seconds", queue="mail") < 700
    assert value(samples, "monolink_task_workers_alive") == 1
