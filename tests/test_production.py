"""Production settings, as a deployment runs them: in separate processes with the production env.

The deploy check, gunicorn with our config file behind a TLS-terminating proxy, whitenoise serving
collected static files, and JSON log lines that never carry a secret or a query string.
"""

import io
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monolink.logs import REDACTED, JsonFormatter, RedactSecretsFilter

from .conftest import ON_POSTGRES
from .workers_support import database_url

ROOT = Path(__file__).resolve().parent.parent
HOST = "monolink.example.com"


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """What a deployment sets: DEBUG off, real-looking secrets, a host name; nothing from .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MONO_", "TASKS_", "EMAIL_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "monolink.settings",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "MONO_WEBHOOK_SECRET": "whsec-" + secrets.token_urlsafe(24),
            "MONO_SECRET_KEY": "live_sk_" + secrets.token_urlsafe(24),
            "MONO_PUBLIC_KEY": "live_pk_" + secrets.token_urlsafe(24),
            "SITE_URL": f"https://{HOST}",
            "SUPPORT_EMAIL": f"support@{HOST}",
            "ALLOWED_HOSTS": HOST,
            "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'prod.sqlite3'}",
            "STATIC_ROOT": str(tmp_path / "staticfiles"),
        }
    )
    if not env["DATABASE_URL"].startswith("postgres"):
        # Production on SQLite can only run tasks in-process, which it refuses unless asked by name.
        env["TASKS_ALLOW_IN_PROCESS"] = "true"
    env.pop("LOG_FORMAT", None)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_deploy_check_is_clean_with_production_settings(production_env):
    check = manage(production_env, "check", "--deploy", "--fail-level", "WARNING")

    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout


def test_production_refuses_to_start_without_the_webhook_secret(production_env):
    production_env.pop("MONO_WEBHOOK_SECRET")

    check = manage(production_env, "check")

    assert check.returncode != 0
    assert "MONO_WEBHOOK_SECRET must be set" in check.stderr


def test_production_logs_are_json_lines_without_secrets(production_env):
    smtp_password = "smtp-" + secrets.token_urlsafe(12)
    production_env["EMAIL_URL"] = f"smtp+tls://monolink:{smtp_password}@smtp.example.com:587"
    script = (
        "import logging; from django.conf import settings\n"
        "log = logging.getLogger('monolink.example')\n"
        "log.warning('key %s secret %s', settings.MONO_SECRET_KEY, settings.MONO_WEBHOOK_SECRET)\n"
        "log.info('smtp %s:%s', settings.EMAIL_HOST, settings.EMAIL_HOST_PASSWORD)\n"
        "try:\n"
        "    raise RuntimeError('mono said ' + settings.MONO_SECRET_KEY)\n"
        "except RuntimeError:\n"
        "    log.exception('refresh failed', extra={'account': 'acc_1'})\n"
    )

    shell = manage(production_env, "shell", "--no-imports", "-c", script)

    assert shell.returncode == 0, shell.stderr
    lines = [json.loads(line) for line in shell.stdout.splitlines()]
    assert [line["logger"] for line in lines] == ["monolink.example"] * 3
    assert lines[0]["message"] == f"key {REDACTED} secret {REDACTED}"
    assert lines[1]["message"] == f"smtp smtp.example.com:{REDACTED}"
    assert lines[2]["account"] == "acc_1"
    assert f"RuntimeError: mono said {REDACTED}" in lines[2]["exc_info"]
    for secret in ("MONO_SECRET_KEY", "MONO_WEBHOOK_SECRET", "SECRET_KEY"):
        assert production_env[secret] not in shell.stdout + shell.stderr
    assert smtp_password not in shell.stdout + shell.stderr


def test_redaction_covers_extra_fields_and_requests_lose_their_query_string(settings, rf):
    settings.MONO_WEBHOOK_SECRET = "whsec-abcdefghijklmnop"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        request = rf.get("/accounts/link/complete/?code=widget-code-123")
        logger.warning("header seen", extra={"header": "whsec-abcdefghijklmnop", "request": request})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    line = json.loads(stream.getvalue())
    assert line["header"] == REDACTED
    assert line["request"] == "GET /accounts/link/complete/"
    assert "widget-code-123" not in stream.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, **headers: str) -> tuple[int, dict, bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, headers={"Host": HOST, **headers})  # noqa: S310 (our local server)
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def gunicorn(production_env, request):
    """gunicorn started the README's way (`gunicorn`, config from gunicorn.conf.py), after collectstatic.
    Indirect parameters add environment variables (and "migrate": True runs the release step)."""
    options = dict(getattr(request, "param", {}))
    if options.pop("migrate", False):
        migrate = manage(production_env, "migrate", "--no-input")
        assert migrate.returncode == 0, migrate.stderr
    collect = manage(production_env, "collectstatic", "--no-input")
    assert collect.returncode == 0, collect.stderr
    port = _free_port()
    env = {**production_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", **options}
    process = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).parent / "gunicorn")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    # Up when every worker answers the liveness URL, as a load balancer would wait (the master
    # accepts connections before its workers have imported Django).
    deadline = time.monotonic() + 60
    answered = 0
    while answered < int(env["WEB_CONCURRENCY"]):
        try:
            answered += _get(f"{base}/healthz")[0] == 200
            continue
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("gunicorn did not start:\n" + process.communicate()[0])
        time.sleep(0.1)
    output: list[str] = []

    def stop() -> list[str]:
        process.terminate()
        output.extend(process.communicate(timeout=30)[0].splitlines())
        return output

    yield base, stop
    if process.poll() is None:
        process.terminate()  # not kill: gunicorn's on_exit removes its metrics directory
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_gunicorn_behind_a_proxy_redirects_http_serves_static_and_logs_json_without_query_strings(gunicorn):
    base, stop = gunicorn

    plain_http = _get(f"{base}/accounts/login/")
    static = _get(f"{base}/static/css/monolink.css", **{"X-Forwarded-Proto": "https"})
    webhook_probe = _get(f"{base}/webhooks/mono/?code=widget-code-secret", **{"X-Forwarded-Proto": "https"})
    lines = stop()

    status, headers, _ = plain_http
    assert status == 301
    assert headers["Location"] == f"https://{HOST}/accounts/login/"

    status, headers, body = static
    assert status == 200
    assert b"body" in body
    assert "max-age" in headers["Cache-Control"]

    assert webhook_probe[0] in (401, 405)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), lines  # every line is JSON
    access = [record for record in records if record["logger"] == "monolink.request"]
    assert any(record["message"].startswith("GET /webhooks/mono/ ") for record in access), access
    assert all(len(record["request_id"]) == 32 for record in access), access
    assert not any("/static/" in record["message"] for record in records), "one line per static file"
    assert "widget-code-secret" not in "\n".join(lines)


METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(16)


@pytest.fixture
def production_database(production_env, transactional_db):
    """On PostgreSQL, the servers use pytest's test database (the only one that exists)."""
    if ON_POSTGRES:
        production_env["DATABASE_URL"] = database_url()


@pytest.mark.parametrize(
    "gunicorn",
    # No task worker runs here: readiness checks the web side only (tests/test_operations.py covers the queue).
    [{"WEB_CONCURRENCY": "3", "METRICS_TOKEN": METRICS_TOKEN, "HEALTH_CHECK_TASK_QUEUE": "false", "migrate": True}],
    indirect=True,
)
def test_gunicorn_health_and_metrics_add_up_across_workers(production_database, gunicorn):
    base, stop = gunicorn
    https = {"X-Forwarded-Proto": "https"}

    liveness = _get(f"{base}/healthz")  # plain HTTP, as a load balancer probes inside the network
    readiness = _get(f"{base}/readyz")
    refused = _get(f"{base}/metrics")
    for _ in range(12):  # refused webhooks, each on a new connection: spread over the 3 workers
        assert _get(f"{base}/webhooks/mono/", **https)[0] in (401, 405)
    scrapes = [_get(f"{base}/metrics", Authorization=f"Bearer {METRICS_TOKEN}") for _ in range(4)]
    stop()

    assert liveness[0] == 200 and liveness[2] == b"ok\n"
    assert len(liveness[1]["X-Request-ID"]) == 32
    assert readiness[0] == 200, readiness
    assert refused[0] == 401
    for status, _headers, body in scrapes:  # whichever worker answers, it reports all of them
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        webhook_samples = {
            tuple(sorted(s.labels.items())): s.value for s in families["monolink_webhook_deliveries"].samples
        }
        refusals = sum(v for labels, v in webhook_samples.items() if ("event", "none") in labels)
        assert refusals == 12, webhook_samples
        assert families["monolink_metrics_database_up"].samples[0].value == 1
