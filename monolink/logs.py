"""Structured logs: one JSON object per line on stdout, with our secrets redacted.

A small formatter of our own rather than python-json-logger: we want a fixed set of fields and
nothing clever, and this file is the one place to audit for what can reach a log line. (The
library is maintained, but its 3.x moved the module and renamed options; twenty lines do not need
a dependency that moves.)

The filter is the safety net for "a secret must never reach a log": whatever a message, its
arguments, its extra fields or a traceback contain, the values of MONO_SECRET_KEY,
MONO_WEBHOOK_SECRET, SECRET_KEY, the SMTP and database passwords, the email provider's keys and
webhook secret are replaced before any handler
writes the record. (Re-auth tokens are per-account values no filter can know: code never logs them.)
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

REDACTED = "[redacted]"
# Settings whose values must never be written out. Short values are skipped: a 3-character "secret"
# would redact half the log and protects nothing.
SECRET_SETTINGS = (
    "MONO_SECRET_KEY",
    "MONO_WEBHOOK_SECRET",
    "SECRET_KEY",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_WEBHOOK_SECRET",
)
# The email provider's keys, inside ANYMAIL (monolink/email_providers.py).
ANYMAIL_SECRETS = (
    "POSTMARK_SERVER_TOKEN",
    "MAILGUN_API_KEY",
    "MAILGUN_WEBHOOK_SIGNING_KEY",
    "SENDGRID_API_KEY",
)
MIN_SECRET_LENGTH = 8

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _secret_values() -> list[str]:
    """Read at call time (settings may change in tests; the filter is built before settings load)."""
    from django.conf import settings

    if not settings.configured:
        return []
    values = [getattr(settings, name, "") or "" for name in SECRET_SETTINGS]
    values.append(settings.DATABASES.get("default", {}).get("PASSWORD") or "")
    anymail = getattr(settings, "ANYMAIL", {})
    values += [anymail.get(name) or "" for name in ANYMAIL_SECRETS]
    values.append(anymail.get("AMAZON_SES_SESSION_PARAMS", {}).get("aws_secret_access_key") or "")
    # Longest first, so a secret that contains another is replaced whole.
    return sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    for value in _secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrite the record so no handler or formatter can see a secret value."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secret_values()
        if not secrets:
            return True
        message = record.getMessage()
        clean = redact(message, secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            # Render the traceback now, redacted; formatters reuse exc_text instead of re-rendering.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value, secrets))
        return True


def _field(value: object) -> object:
    """An extra field as JSON. Objects are not str()-ed: Django passes `request=` to its loggers and
    a request's repr carries the query string, where codes and tokens can travel."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "method") and hasattr(value, "path"):
        return f"{value.method} {value.path}"
    return type(value).__name__


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extra, "exc_info"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = _field(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def django_config(*, formatter: str, level: str) -> dict:
    """settings.LOGGING: every line through one stdout handler, in one format, redacted and with the
    request or job context (the redact filter sits on the handler, so nothing escapes it)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": "monolink.logs.RedactSecretsFilter"},
            "context": {"()": "monolink.log_context.ContextFilter"},
        },
        "formatters": {
            "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "monolink.logs.JsonFormatter"},
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": formatter,
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # Through the root handler only (Django's defaults add a DEBUG-only stderr console and
            # mail_admins): one line per event, redacted, in one format.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.db.backends": {"level": "WARNING"},
            # Start-up chatter on every manage.py command; job start/finish lines stay at INFO.
            "procrastinate.blueprints": {"level": "WARNING"},
            "procrastinate.periodic": {"level": "WARNING"},
            # One line per request comes from monolink.middleware (with its id and duration):
            # runserver's line per request and static file, and Django's "Not Found: /x", stay quiet.
            "django.server": {"level": "ERROR"},
            "django.request": {"level": "ERROR"},
        },
    }
