"""The transactional email providers monolink documents (docs/email.md), as django-anymail settings.

monolink/settings/mail.py reads the variables; this turns them into anymail's ANYMAIL dict and refuses, at
start-up and by name, a production provider without its key. Anymail supports more providers;
these four are the ones documented and tested with their own webhook payloads.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

BACKENDS = {
    "amazon_ses": "anymail.backends.amazon_ses.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
}
# What a provider cannot send or authenticate its webhook without. SES may take its credentials
# from the machine's role instead of keys, so it requires none here.
REQUIRED = {
    "amazon_ses": (),
    "postmark": ("POSTMARK_SERVER_TOKEN",),
    "mailgun": ("MAILGUN_API_KEY", "MAILGUN_WEBHOOK_SIGNING_KEY"),
    "sendgrid": ("SENDGRID_API_KEY",),
}
# Basic-auth user name of the tracking webhook; the password is EMAIL_WEBHOOK_SECRET.
WEBHOOK_USER = "anymail"


def anymail_settings(provider: str, *, webhook_secret: str, timeout_seconds: int, debug: bool, keys: dict) -> dict:
    if provider and provider not in BACKENDS:
        raise ImproperlyConfigured(f"EMAIL_PROVIDER must be one of {', '.join(BACKENDS)} (or empty for SMTP).")
    missing = [name for name in REQUIRED.get(provider, ()) if not keys[name]]
    if missing and not debug:
        raise ImproperlyConfigured(f"EMAIL_PROVIDER={provider} needs {' and '.join(missing)} (docs/email.md).")
    config: dict = {
        # Never open: anymail accepts any caller when WEBHOOK_SECRET is empty.
        "WEBHOOK_SECRET": f"{WEBHOOK_USER}:{webhook_secret}" if webhook_secret else [],
        # Bounds each HTTP call to the provider, like EMAIL_TIMEOUT bounds an SMTP conversation.
        "REQUESTS_TIMEOUT": timeout_seconds,
        "POSTMARK_SERVER_TOKEN": keys["POSTMARK_SERVER_TOKEN"],
        "MAILGUN_API_KEY": keys["MAILGUN_API_KEY"],
        "MAILGUN_WEBHOOK_SIGNING_KEY": keys["MAILGUN_WEBHOOK_SIGNING_KEY"],
        "SENDGRID_API_KEY": keys["SENDGRID_API_KEY"],
    }
    if keys["MAILGUN_SENDER_DOMAIN"]:
        config["MAILGUN_SENDER_DOMAIN"] = keys["MAILGUN_SENDER_DOMAIN"]
    if keys["MAILGUN_API_URL"]:  # the EU region: https://api.eu.mailgun.net/v3
        config["MAILGUN_API_URL"] = keys["MAILGUN_API_URL"]
    if keys["SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY"]:  # SendGrid's signed event webhook
        config["SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY"] = keys["SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY"]
    if provider == "amazon_ses":
        config["AMAZON_SES_SESSION_PARAMS"] = {
            name: value
            for name, value in (
                ("aws_access_key_id", keys["AWS_ACCESS_KEY_ID"]),
                ("aws_secret_access_key", keys["AWS_SECRET_ACCESS_KEY"]),
                ("region_name", keys["AWS_REGION"]),
            )
            if value
        }
        # boto3 has its own timeouts and retries: the same bound, one try (the mail queue retries).
        config["AMAZON_SES_CLIENT_PARAMS"] = {
            "config": {
                "connect_timeout": timeout_seconds,
                "read_timeout": timeout_seconds,
                "retries": {"max_attempts": 1},
            }
        }
    return config
