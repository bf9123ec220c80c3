"""Email: SMTP or a transactional provider through django-anymail, and its tracking webhook."""

from django.core.exceptions import ImproperlyConfigured

from monolink import email_providers
from monolink.env import env, required_secret

from .base import DEBUG
from .mono import MONO_SANDBOX

# --- Email ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# SMTP in one variable, e.g. EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (sets the backend,
# host, port, credentials and TLS; the password is redacted from logs like the other secrets).
_email_url = env.str("EMAIL_URL", default="")
if _email_url:
    globals().update(env.email_url_config(_email_url))
# Bounds the whole SMTP conversation: a hung mail server must not hold a mail worker's job slot for
# ever (Django's default: no timeout). No lock is held while sending; the send is recorded after.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_SECONDS", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="monolink <no-reply@localhost>")
# Where a locked-out or stuck user writes to; named on the lockout and error pages.
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="support@localhost")
# A transactional provider instead of SMTP, through django-anymail, with bounce and complaint
# tracking (docs/email.md): amazon_ses, postmark, mailgun or sendgrid, with that provider's keys.
EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", default="")
# The tracking webhook's basic auth ("anymail:<secret>"): required with a provider. The endpoint is
# mounted for the provider only; in the sandbox without one (with DEBUG, or on a demo site that set
# the secret), in Postmark's format, so `mail_event` can send fake bounces through anymail's parser.
EMAIL_WEBHOOK_SECRET = required_secret("EMAIL_WEBHOOK_SECRET", debug=DEBUG, optional=not EMAIL_PROVIDER)
EMAIL_TRACKING_PROVIDER = EMAIL_PROVIDER or ("postmark" if MONO_SANDBOX and EMAIL_WEBHOOK_SECRET else "")
ANYMAIL = email_providers.anymail_settings(
    EMAIL_PROVIDER,
    webhook_secret=EMAIL_WEBHOOK_SECRET,
    timeout_seconds=EMAIL_TIMEOUT,
    debug=DEBUG,
    keys={
        "AWS_ACCESS_KEY_ID": env.str("AWS_ACCESS_KEY_ID", default=""),
        "AWS_SECRET_ACCESS_KEY": env.str("AWS_SECRET_ACCESS_KEY", default=""),
        "AWS_REGION": env.str("AWS_REGION", default=""),
        "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN", default=""),
        "MAILGUN_API_KEY": env.str("MAILGUN_API_KEY", default=""),
        "MAILGUN_SENDER_DOMAIN": env.str("MAILGUN_SENDER_DOMAIN", default=""),
        "MAILGUN_API_URL": env.str("MAILGUN_API_URL", default=""),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
        "SENDGRID_API_KEY": env.str("SENDGRID_API_KEY", default=""),
        "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY": env.str("SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY", default=""),
    },
)
if EMAIL_PROVIDER and _email_url:
    raise ImproperlyConfigured("Set EMAIL_PROVIDER or EMAIL_URL (SMTP), not both.")
if EMAIL_PROVIDER:
    EMAIL_BACKEND = email_providers.BACKENDS[EMAIL_PROVIDER]
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
