"""gunicorn settings for monolink (read automatically from the working directory).

    gunicorn monolink.wsgi

Everything a deployment varies comes from the environment or `.env`, read the way the app's
settings read them (monolink/env.py); docs/production.md lists the variables.
"""

import multiprocessing
import os
import shutil
import tempfile

from monolink.env import env, load, log_level
from monolink.env import forwarded_allow_ips as _trusted_proxies

_dot_env_read = load()

wsgi_app = "monolink.wsgi:application"

# Loopback by default: a proxy on the same host (nginx, Caddy) terminates TLS, buffers slow clients
# and forwards here; nothing else should reach gunicorn (docs/security.md). PORT is what most
# platforms set; GUNICORN_BIND wins when given ("unix:/run/monolink.sock", or "0.0.0.0:8000" inside
# a container whose only way in is the platform's proxy, with FORWARDED_ALLOW_IPS set to match).
bind = env.str("GUNICORN_BIND", default="") or f"127.0.0.1:{env.int('PORT', default=8000)}"
# The classic sync-worker rule of thumb; WEB_CONCURRENCY is the conventional override.
workers = env.int("WEB_CONCURRENCY", default=0) or multiprocessing.cpu_count() * 2 + 1
# No request waits on Mono longer than MONO_REQUEST_DEADLINE (8 s by default, retries and Retry-After
# included; webhooks never call Mono), so 30 s only catches a stuck worker. Keep it well above that
# deadline. Graceful restarts get the same time to finish requests.
timeout = env.int("GUNICORN_TIMEOUT_SECONDS", default=30)
graceful_timeout = timeout
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow forever; jitter keeps them from restarting together.
max_requests = 2000
max_requests_jitter = max_requests // 10

# The proxy in front terminates TLS and sets X-Forwarded-Proto/For. Trust those headers only from
# it: the same list, read by the same function, as the app's (docs/security.md).
forwarded_allow_ips = ",".join(_trusted_proxies())
# gunicorn 24+ opens an admin socket in $HOME by default; we do not use it, and two instances on
# one host would fight over the path.
control_socket_disable = True

# Prometheus: each worker writes its counters to files in this directory and /metrics adds them up
# (prometheus_client's multiprocess mode); without it a scrape would see one random worker. Set
# before any worker imports prometheus_client; one fresh directory per gunicorn master, removed on
# exit, so two instances on one host never mix. See docs/operations.md.
_metrics_dir = env.str("PROMETHEUS_MULTIPROC_DIR", default="") or tempfile.mkdtemp(prefix="monolink-prometheus-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir  # prometheus_client reads it from the environment


def on_starting(server):
    # A directory kept from an earlier run holds dead workers' counters: start from zero, as a
    # restarted single process would (Prometheus' rate() handles counter resets).
    os.makedirs(_metrics_dir, exist_ok=True)
    for name in os.listdir(_metrics_dir):
        if name.endswith(".db"):
            os.remove(os.path.join(_metrics_dir, name))


def when_ready(server):
    # One line that says where this server listens and with how many workers (command-line options
    # included), and whether .env was read.
    where = ", ".join(str(listener) for listener in server.LISTENERS)
    source = "the environment and .env" if _dot_env_read else "the environment"
    server.log.info("monolink listening on %s with %d workers (settings from %s)", where, server.cfg.workers, source)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # its gauges go; its counters stay in the sums


def on_exit(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)


# Access log: path without the query string (%(U)s, not %(r)s) and no Referer: both can carry a
# widget code, a token or a `next` URL. JSON lines on stdout like the app's own logs.
access_log_format = '%(m)s %(U)s %(s)s %(B)s %(M)sms client=%({x-forwarded-for}i)s peer=%(h)s ua="%(a)s"'
loglevel = log_level().lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "monolink.logs.RedactSecretsFilter"}},
    "formatters": {"json": {"()": "monolink.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["redact"],
        }
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stdout"], "propagate": False},
        # Off: the app writes one line per request with its request id and duration, and none per
        # static file (monolink.middleware). "INFO" here adds gunicorn's line, whose path is raw: a
        # password-reset link's token would be in it (the app logs that route by its pattern).
        "gunicorn.access": {"level": "WARNING", "handlers": ["stdout"], "propagate": False},
    },
}
