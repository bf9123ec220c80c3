"""gunicorn settings for monolink (read automatically from the working directory).

    gunicorn monolink.wsgi

Everything a deployment varies comes from the environment; see README "Production".
"""

import multiprocessing
import os

wsgi_app = "monolink.wsgi:application"

# Loopback by default: a proxy on the same host (nginx, Caddy) terminates TLS, buffers slow clients
# and forwards here; nothing else should reach gunicorn (docs/security.md). PORT is what most
# platforms set; GUNICORN_BIND wins when given ("unix:/run/monolink.sock", or "0.0.0.0:8000" inside
# a container whose only way in is the platform's proxy, with FORWARDED_ALLOW_IPS set to match).
bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
# The classic sync-worker rule of thumb; WEB_CONCURRENCY is the conventional override.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# No request waits on Mono longer than MONO_REQUEST_DEADLINE (8 s by default, retries and Retry-After
# included; webhooks never call Mono), so 30 s only catches a stuck worker. Keep it well above that
# deadline. Graceful restarts get the same time to finish requests.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = timeout
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow forever; jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10

# The proxy in front terminates TLS and sets X-Forwarded-Proto/For. Trust those headers only from
# it: gunicorn's default is 127.0.0.1; set FORWARDED_ALLOW_IPS to the proxy's address (or "*" when
# the network guarantees only the proxy can reach gunicorn).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 24+ opens an admin socket in $HOME by default; we do not use it, and two instances on
# one host would fight over the path.
control_socket_disable = True

# Access log: path without the query string (%(U)s, not %(r)s) and no Referer: both can carry a
# widget code, a token or a `next` URL. JSON lines on stdout like the app's own logs.
access_log_format = '%(m)s %(U)s %(s)s %(B)s %(M)sms client=%({x-forwarded-for}i)s peer=%(h)s ua="%(a)s"'
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
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
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}
