"""Operations: logs, health, metrics and error reports."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from monolink import logs
from monolink.env import env, ip_list, log_level

from .base import DEBUG

# Logs go to stdout (the platform collects them): JSON lines in production, plain lines with DEBUG,
# every line redacted (monolink/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="") or ("line" if DEBUG else "json")
if LOG_FORMAT not in {"line", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'line'.")
LOGGING = logs.django_config(formatter=LOG_FORMAT, level=log_level())

# --- Operations: health, metrics, error reports, request ids (docs/operations.md) ---------------
# /metrics answers a bearer token, or a direct request (no X-Forwarded-For: not through the proxy)
# from these addresses. Loopback is allowed by default only with DEBUG (./dev run).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = ip_list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"] if DEBUG else [])
# /readyz says ready or not to anyone; which check failed only to staff or this bearer token.
HEALTH_CHECK_TOKEN = env.str("HEALTH_CHECK_TOKEN", default="")
# Every readiness check and every scrape-time query gives up after this many seconds.
HEALTH_CHECK_TIMEOUT = 3
# Readiness fails when no task worker has sent a heartbeat, or a ready job has waited, this long
# (PostgreSQL task engine only). HEALTH_CHECK_TASK_QUEUE=false keeps web servers in the load
# balancer while workers are down, leaving that to the alerts (docs/operations.md).
HEALTH_CHECK_TASK_QUEUE = env.bool("HEALTH_CHECK_TASK_QUEUE", default=True)
HEALTH_WORKER_HEARTBEAT_MAX = timedelta(seconds=env.int("HEALTH_WORKER_HEARTBEAT_MAX_SECONDS", default=120))
HEALTH_QUEUE_MAX_AGE = timedelta(seconds=env.int("HEALTH_QUEUE_MAX_AGE_SECONDS", default=900))
# Load balancers probe over plain HTTP inside the network: no redirect to HTTPS for these.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from monolink import sentry

    sentry.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production" if not DEBUG else "development"),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
