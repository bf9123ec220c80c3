import json
import os
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import responses
from aiosmtpd.controller import Controller
from django.conf import settings
from pytest_django.fixtures import validate_django_db

from accounts.models import LinkedAccount
from monolink.mono import MonoRequestError
from tests.factories import LinkedAccountFactory, UserFactory
from tests.webhooks_support import ACCOUNT_ID
from tests.workers_support import SmtpSink, Workers

# Fixtures for tests that drop or keep the database connection, kept apart from this module.
pytest_plugins = ["tests.database_fixtures"]

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """SQLite tests use a file, not memory: with an in-memory database the live server's threads
    (browser tests, the sandbox delivering webhooks while a page request runs) share one connection,
    which SQLite answers with "database table is locked". A file gives each thread its own."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3" and not db.get("TEST", {}).get("NAME"):
        db.setdefault("TEST", {})["NAME"] = os.path.join(tempfile.gettempdir(), f"monolink-test-{os.getpid()}.sqlite3")


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests (real row locks and concurrency) are deselected on SQLite, not skipped:
    CI runs the suite on both databases, so every one of them runs on every submission."""
    if ON_POSTGRES:
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("postgres") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- Procrastinate, the task engine ------------------------------------------------------------------
# Its tables are unmanaged models, so the flush after a transactional test leaves their rows behind
# (and a rolled-back test never commits any). Jobs, events, periodic defers and workers are
# therefore emptied here, for every transactional test on PostgreSQL, before it and after it: each
# starts from an empty queue (the first of the session too, and after an interrupted run with
# --reuse-db) and leaves none for the next. Non-transactional tests run first (pytest-django orders
# them so), inside a transaction that is rolled back: they see the empty tables of a new database.

PROCRASTINATE_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)


def _is_transactional(request) -> bool:
    """pytest-django's own rule: django_db(transaction=True) (or reset_sequences), transactional_db,
    or live_server among the test's fixtures."""
    marker = request.node.get_closest_marker("django_db")
    if marker:
        transaction_, reset_sequences, *_ = validate_django_db(marker)
        if transaction_ or reset_sequences:
            return True
    return "transactional_db" in request.fixturenames or "live_server" in request.fixturenames


def _empty_procrastinate_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(PROCRASTINATE_TABLES)} RESTART IDENTITY CASCADE")


@pytest.fixture(autouse=True)
def _procrastinate_tables_empty(request):
    if not (ON_POSTGRES and _is_transactional(request)):
        yield
        return
    # Set up the database first (it is torn down after this fixture, so the last TRUNCATE runs
    # before the flush, and after the fixtures the test asked for, worker processes included).
    request.getfixturevalue("transactional_db")
    _empty_procrastinate_tables()
    yield
    _empty_procrastinate_tables()


@pytest.fixture
def procrastinate_backend(settings):
    """Tasks go to Procrastinate's job table as in production (the test settings run them in-process):
    nothing runs them unless the test starts a worker. PostgreSQL only."""
    settings.TASKS_BACKEND = "procrastinate"


@pytest.fixture
def smtp_sink():
    """Starts mail servers on 127.0.0.1: smtp_sink(["451", "ok"]) answers one step per message."""
    sinks: list[tuple[SmtpSink, Controller]] = []

    def start(plan: list[str] | None = None) -> SmtpSink:
        with socket.socket() as probe:  # aiosmtpd needs a port number up front
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        sink = SmtpSink(plan or [])
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        sink.port = port
        sinks.append((sink, controller))
        return sink

    yield start
    for _sink, controller in sinks:
        controller.stop()


@pytest.fixture
def workers(transactional_db, tmp_path):
    """Starts real `manage.py run_worker` processes (workers.start(sink, ...)); stops them at the end."""
    started = Workers(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def user(db):
    """Ada, who signs in with PASSWORD in tests/test_security.py and tests/test_pages.py."""
    return UserFactory(username="ada", email="ada@example.com", password="pw-ada-12345")


@pytest.fixture
def other_user(db):
    return UserFactory(username="bola", email="bola@example.com", password="pw-bola-12345")


@pytest.fixture
def signed_in(client, user):
    """The test client, signed in as `user`."""
    client.force_login(user)
    return client


@pytest.fixture
def api(client, user):
    """The test client as Ada's phone: a device token from the API's sign-in, sent as a Bearer header
    on every request (`api.token`)."""
    answer = client.post("/api/v1/auth/sign-in/", {"username": "ada", "password": "pw-ada-12345"}, "application/json")
    assert answer.status_code == 200, answer.content
    client.token = answer.json()["token"]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {client.token}"
    return client


@pytest.fixture
def make_account(db, user):
    """Makes Ada's linked accounts (LinkedAccountFactory; any field can be given, `user` too),
    numbered from 0001 in every test."""
    LinkedAccountFactory.reset_sequence(1)

    def make(**fields) -> LinkedAccount:
        fields.setdefault("user", user)
        return LinkedAccountFactory(**fields)

    return make


@pytest.fixture
def account(make_account):
    return make_account()


@pytest.fixture
def payload_account(make_account):
    """Ada's account under ACCOUNT_ID, the id inside every file in tests/payloads/: their webhooks
    are about it. (`account` has an id of its own, so those payloads do not match it.)"""
    return make_account(mono_account_id=ACCOUNT_ID)


MONO_API = "https://api.withmono.com"
MONO_TEST_KEY = "test_sk_x"


@pytest.fixture
def real_mono(settings):
    """The real HTTP client against `responses` (v2, no retries): only Mono's HTTP is faked."""
    settings.MONO_CLIENT = "monolink.mono.client.MonoClient"
    settings.MONO_SECRET_KEY = MONO_TEST_KEY
    settings.MONO_API_BASE_URL = MONO_API
    settings.MONO_API_VERSION = "v2"
    settings.MONO_MAX_RETRIES = 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


class _Capture(BaseHTTPRequestHandler):
    """Records each POST (path, lower-cased headers, raw body, decoded JSON) and answers as told."""

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.received.append({"path": self.path, "headers": headers, "body": raw, "json": decoded})
        answer = json.dumps(self.server.answer).encode()
        self.send_response(self.server.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 standing in for a webhook receiver (our own, not Mono)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.received, server.status, server.answer = [], 200, {"status": "processed"}
    server.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/mono/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hanging_mono():
    """Mono on a bad day: a real socket on 127.0.0.1 that accepts connections and never answers.

    `url` is its base URL (point settings.MONO_API_BASE_URL at it); `accepted` counts connections.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever():
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read from or written to

    thread = threading.Thread(target=accept_forever, name="hanging-mono", daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{listener.getsockname()[1]}", accepted=held)
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


class _StubMonoHandler(BaseHTTPRequestHandler):
    """Mono's v2 exchange and account endpoints, answering as `server.plan` says, one step per call."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        self.server.record("exchange", body.get("code"))
        step = self.server.next_step("exchange")
        if step == "hang":  # accept and say nothing, until the caller has given up
            self.server.release.wait(timeout=30)
            return
        if step != "ok":
            return self._answer(int(step), {"message": "Invalid code"})
        self._answer(200, {"status": "successful", "data": {"id": self.server.account_id_for(body.get("code"))}})

    def do_GET(self):
        account_id = self.path.rstrip("/").rsplit("/", 1)[-1]
        self.server.record("details", account_id)
        step = self.server.next_step("details")
        if step == "hang":
            self.server.release.wait(timeout=30)
            return
        if step != "ok":
            return self._answer(int(step), {"message": "Mono is having a moment"})
        self._answer(200, stub_account_body(account_id))

    def _answer(self, status: int, payload: dict):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


def stub_account_body(account_id: str) -> dict:
    """Mono's v2 GET /v2/accounts/{id} answer, with the sandbox's made-up details for that id."""
    from monolink.mono.sandbox import sandbox_details

    d = sandbox_details(account_id)
    account = {
        "id": account_id,
        "name": d.name,
        "account_number": d.account_number,
        "currency": d.currency,
        "balance": d.balance,
        "type": d.type,
        "institution": {"name": d.institution.name, "bank_code": d.institution.bank_code, "type": d.institution.type},
    }
    return {"status": "successful", "data": {"account": account, "meta": {"data_status": "AVAILABLE"}}}


class StubMonoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _StubMonoHandler)
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.plans: dict[str, list[str]] = {"exchange": [], "details": []}
        self.delay = 0.0  # seconds each exchange takes, so racing posts overlap
        self.release = threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.secret_key = "test_sk_stub0123456789"

    def record(self, kind: str, value: str):
        with self.lock:
            self.calls.append((kind, value))
        if kind == "exchange" and self.delay:
            threading.Event().wait(self.delay)

    def next_step(self, kind: str) -> str:
        with self.lock:
            return self.plans[kind].pop(0) if self.plans[kind] else "ok"

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for k, _ in self.calls if k == kind)

    @staticmethod
    def account_id_for(code) -> str:
        """A sandbox widget code carries its account id (so the bank picked sticks); any other code gets one."""
        from monolink.mono.sandbox import SandboxClient

        try:
            return SandboxClient().exchange_code(code)
        except MonoRequestError:  # not a sandbox code: a fixed ObjectId-looking id (last byte: Access Bank)
            return "65f0c0ffee00000000000a01"


@pytest.fixture
def stub_mono(settings):
    """A real HTTP Mono on 127.0.0.1 (v2 paths) with the real client pointed at it.

    `plans["exchange"]` / `plans["details"]`: one step per call, "ok" (default), "hang" or an HTTP
    status; `calls` records (kind, code or account id); `delay` slows every exchange down.
    """
    server = StubMonoServer()
    threading.Thread(target=server.serve_forever, name="stub-mono", daemon=True).start()
    settings.MONO_CLIENT = "monolink.mono.client.MonoClient"
    settings.MONO_SECRET_KEY = server.secret_key
    settings.MONO_API_BASE_URL = server.url
    settings.MONO_API_VERSION = "v2"
    settings.MONO_MAX_RETRIES = 0
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
