"""System checks for configuration mistakes that settings alone cannot refuse at import time."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register()
def mono_keys_check(app_configs, **kwargs):
    # With real keys the widget needs the public key; without it every user's Reconnect fails.
    if settings.MONO_SECRET_KEY and not settings.MONO_PUBLIC_KEY:
        return [
            Error(
                "MONO_PUBLIC_KEY is empty while MONO_SECRET_KEY is set.",
                hint="Copy the public key (test_pk_… / live_pk_…) from Mono's dashboard into MONO_PUBLIC_KEY.",
                id="monolink.E001",
            )
        ]
    return []


@register()
def task_backend_check(app_configs, **kwargs):
    # In-process tasks die with the web process and are never retried: a production site would lose
    # emails and refreshes on every deploy, and run Mono calls inside webhook requests.
    if not settings.DEBUG and settings.TASKS_BACKEND == "in_process" and not settings.TASKS_ALLOW_IN_PROCESS:
        return [
            Error(
                "TASKS_BACKEND is 'in_process' with DEBUG off: background tasks would run inside web "
                "requests and be lost when a process stops.",
                hint="Use PostgreSQL (DATABASE_URL) with TASKS_BACKEND=procrastinate and run "
                "`python manage.py run_worker`; or set TASKS_ALLOW_IN_PROCESS=true for a demo site.",
                id="monolink.E002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def site_url_check(app_configs, **kwargs):
    # SITE_URL is the link in the re-auth email: a localhost or plain-HTTP one reaches nobody safely.
    parts = urlsplit(settings.SITE_URL)
    if parts.scheme != "https" or parts.hostname in {"localhost", "127.0.0.1", "::1"}:
        return [
            Warning(
                f"SITE_URL is {settings.SITE_URL!r}: emails would link users there.",
                hint="Set SITE_URL to the public https:// address of this site.",
                id="monolink.W001",
            )
        ]
    return []


@register(deploy=True)
def support_email_check(app_configs, **kwargs):
    # The lockout and error pages tell stuck users to write here: the default reaches nobody.
    if settings.SUPPORT_EMAIL.rpartition("@")[2].lower() in {"localhost", "127.0.0.1", ""}:
        return [
            Warning(
                f"SUPPORT_EMAIL is {settings.SUPPORT_EMAIL!r}: locked-out users would be told to write there.",
                hint="Set SUPPORT_EMAIL to an address your support staff read.",
                id="monolink.W002",
            )
        ]
    return []


MIN_WEBHOOK_SECRET_LENGTH = 16


@register(Tags.security)
def webhook_secret_length_check(app_configs, **kwargs):
    # The webhook secret is Mono's only proof of origin (no HMAC, no IP list): a short one can be guessed.
    if not settings.DEBUG and len(settings.MONO_WEBHOOK_SECRET) < MIN_WEBHOOK_SECRET_LENGTH:
        return [
            Error(
                f"MONO_WEBHOOK_SECRET is {len(settings.MONO_WEBHOOK_SECRET)} characters long; production needs "
                f"at least {MIN_WEBHOOK_SECRET_LENGTH}.",
                hint="Generate a long random secret in Mono's dashboard and copy it into MONO_WEBHOOK_SECRET.",
                id="monolink.E003",
            )
        ]
    return []


@register(Tags.security)
def email_webhook_secret_length_check(app_configs, **kwargs):
    # The tracking webhook's basic-auth password is all that stands between a stranger and "this
    # user can't be reached" (Postmark and SES sign nothing): as long as Mono's.
    secret = settings.EMAIL_WEBHOOK_SECRET
    if not settings.DEBUG and settings.EMAIL_TRACKING_PROVIDER and len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
        return [
            Error(
                f"EMAIL_WEBHOOK_SECRET is {len(secret)} characters long; production needs at least "
                f"{MIN_WEBHOOK_SECRET_LENGTH}.",
                hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))', and put it in "
                "the tracking URL you give the provider (docs/email.md).",
                id="monolink.E004",
            )
        ]
    return []
