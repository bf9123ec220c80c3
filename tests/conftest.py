import json
import os
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.conf import settings

from accounts.models import LinkedAccount, User

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


@pytest.fixture
def user(db):
    return User.objects.create_user("ada", email="ada@example.com", password="pw-ada-12345")


@pytest.fixture
def other_user(db):
    return User.objects.create_user("bola", email="bola@example.com", password="pw-bola-12345")


@pytest.fixture
def make_account(db, user):
    counter = iter(range(1, 10_000))

    def make(**fields) -> LinkedAccount:
        n = next(counter)
        fields.setdefault("user", user)
        fields.setdefault("mono_account_id", f"5f171a530295e231abca{n:04d}")
        fields.setdefault("institution_name", "GTBank")
        fields.setdefault("account_number_masked", f"******{n:04d}")
        return LinkedAccount.objects.create(**fields)

    return make


@pytest.fixture
def account(make_account):
    return make_account()


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
