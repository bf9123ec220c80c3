"""Where monolink's configuration comes from: the process environment, plus the project's `.env`.

monolink/settings/ (the app) and gunicorn.conf.py (the web server) both load it through `load()`,
so a variable in `.env` reaches both, and the few variables both need (FORWARDED_ALLOW_IPS,
LOG_LEVEL) are read here once, with one default. Values already in the environment win over `.env`;
DJANGO_READ_DOT_ENV_FILE=false ignores the file. `.env.example` lists every variable, and
tests/test_env_example.py keeps it that way.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DOT_ENV = BASE_DIR / ".env"

env = environ.Env()

# Variables this release no longer reads. A deployment that still sets one is refused at start-up
# with the replacement named, rather than run on a value it believes it set (docs/production.md).
RENAMED = {
    "SESSION_HOURS": "SESSION_LIFETIME_SECONDS",
    "SIGNIN_LOCKOUT_MINUTES": "SIGNIN_LOCKOUT_SECONDS",
    "MONO_REQUEST_DEADLINE": "MONO_REQUEST_DEADLINE_SECONDS",
    "MONO_TASK_DEADLINE": "MONO_TASK_DEADLINE_SECONDS",
    "DETAILS_MAX_AGE_HOURS": "DETAILS_MAX_AGE_SECONDS",
    "EMAIL_TIMEOUT": "EMAIL_TIMEOUT_SECONDS",
    "CONN_MAX_AGE": "CONN_MAX_AGE_SECONDS",
    "GUNICORN_TIMEOUT": "GUNICORN_TIMEOUT_SECONDS",
}
# Internal timings, now fixed in the code that uses them.
REMOVED = (
    "MONO_CONNECT_TIMEOUT",
    "MONO_READ_TIMEOUT",
    "MONO_MAX_RETRIES",
    "MONO_BACKOFF_FACTOR",
    "MONO_RETRY_AFTER_MAX",
    "MONO_LINK_CODE_MINUTES",
    "REAUTH_GRACE_MINUTES",
    "WEBHOOK_MAX_BODY_BYTES",
    "TASKS_HEARTBEAT",
    "TASKS_STALLED_AFTER",
    "TASKS_POLL_INTERVAL",
    "TASKS_RETRY_BASE",
    "TASKS_RETRY_CAP",
    "RECONCILE_BATCH",
    "HEALTH_CHECK_TIMEOUT",
    "GUNICORN_MAX_REQUESTS",
)
RETIRED = (*RENAMED, *REMOVED)


def load() -> bool:
    """Read `.env` into the environment (unless DJANGO_READ_DOT_ENV_FILE=false), then refuse retired
    variables. Returns whether a `.env` was read (gunicorn's start-up line says so)."""
    read = env.bool("DJANGO_READ_DOT_ENV_FILE", default=True) and DOT_ENV.exists()
    if read:
        environ.Env.read_env(DOT_ENV)
    problems = [
        f"{name} was renamed {RENAMED[name]} (in seconds)"
        if name in RENAMED
        else f"{name} is no longer read (a fixed value now): remove it"
        for name in RETIRED
        if name in os.environ
    ]
    if problems:
        raise ImproperlyConfigured("Retired settings in the environment or .env: " + "; ".join(problems) + ".")
    return read


# Placeholders that must never run a production site (the one in .env.example included).
_DEV_ONLY_PREFIX = "dev-insecure-"


def required_secret(name: str, *, debug: bool, optional: bool = False) -> str:
    """Return a secret; in production refuse to start without a real one, naming the variable.
    `optional`: in production, unset is allowed (""), for a feature that is off without it."""
    value = env.str(name, default="")
    if debug:
        return value or f"{_DEV_ONLY_PREFIX}{name.lower()}"
    if optional and not value:
        return ""
    if not value or value.startswith(_DEV_ONLY_PREFIX) or value.startswith("change-me"):
        raise ImproperlyConfigured(
            f"{name} must be set to a real secret when DEBUG is off "
            f"(see .env.example; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    return value


def ip_list(name: str, *, default: list[str]) -> list[str]:
    """Addresses or networks ("*": any), checked strictly as gunicorn does: 10.1.2.3/16 is a typo."""
    entries = env.list(name, default=default)
    for entry in entries:
        try:
            if entry != "*":
                ipaddress.ip_network(entry)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {entry!r} is not an IP address or network.") from None
    return entries


def forwarded_allow_ips() -> list[str]:
    """The proxies whose X-Forwarded-* headers gunicorn and Django believe: addresses or networks, or
    "*" when nothing but the platform's proxy can reach gunicorn (monolink/client_address.py)."""
    return ip_list("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"])


def log_level() -> str:
    return env.str("LOG_LEVEL", default="INFO").upper()
