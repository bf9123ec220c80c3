"""`python manage.py mono_trigger EVENT --account ID [--url URL]`: send a Mono-shaped webhook to a
running server, like `stripe trigger`. Works against `./dev run` (sandbox) and a real deployment."""

import json

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from monolink.mono import payloads


def default_url() -> str:
    """This site's own endpoint at SITE_URL, which `./dev run` keeps in step with PORT."""
    return settings.SITE_URL + reverse("webhooks:mono")


class Command(BaseCommand):
    help = (
        "Send a Mono webhook event in Mono's exact payload shape, with the mono-webhook-secret header, "
        "to a running monolink server and print its answer. Events: "
        + ", ".join(payloads.BUILDERS)
        + " (the full mono.events.* names work too)."
    )

    def add_arguments(self, parser):
        parser.add_argument("event", help=f"one of: {', '.join(payloads.BUILDERS)} (or mono.events.<name>)")
        parser.add_argument("--account", required=True, help="the Mono account id the event is about")
        parser.add_argument("--url", help="the webhook endpoint (default: SITE_URL + /webhooks/mono/)")
        parser.add_argument(
            "--secret",
            help="the webhook secret (default: MONO_WEBHOOK_SECRET, from the environment or .env)",
        )
        parser.add_argument("--data-status", help="account_updated: meta.data_status (default AVAILABLE)")
        parser.add_argument("--sync-status", help="account_updated: meta.sync_status, e.g. REAUTHORISATION_REQUIRED")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")

    def handle(self, *args, event, account, url, secret, data_status, sync_status, timeout, **options):
        url = url or default_url()
        try:
            name = payloads.short_name(event)
        except KeyError as exc:
            raise CommandError(exc.args[0]) from None
        account = account.strip()
        if not account:
            raise CommandError("--account must not be empty.")
        extra = {}
        if name == "account_updated":
            extra = {"data_status": data_status, "sync_status": sync_status}
        elif data_status or sync_status:
            raise CommandError("--data-status and --sync-status apply to account_updated only.")
        payload = payloads.build(name, account, **extra)
        secret = secret or settings.MONO_WEBHOOK_SECRET  # the settings read MONO_WEBHOOK_SECRET (env or .env)
        if not secret:
            raise CommandError("No webhook secret: pass --secret or set MONO_WEBHOOK_SECRET.")

        self.stdout.write(f"POST {url}  {payload['event']}  account={account}  event_id={payload['event_id']}")
        try:
            response = requests.post(
                url,
                data=json.dumps(payload),
                headers={"content-type": "application/json", "mono-webhook-secret": secret},
                timeout=timeout,
            )
        except requests.ConnectionError:
            raise CommandError(
                f"Could not connect to {url}: is the server running? Start it with ./dev run, or give its "
                "endpoint with --url (e.g. --url http://127.0.0.1:8001/webhooks/mono/)."
            ) from None
        except requests.Timeout:
            raise CommandError(f"{url} did not answer within {timeout:g}s.") from None
        except requests.RequestException as exc:
            raise CommandError(f"Request to {url} failed: {type(exc).__name__}.") from None

        status_line = f"{response.status_code} {response.reason or ''}".strip()
        body = response.text[:2000]
        if 200 <= response.status_code < 300:
            self.stdout.write(self.style.SUCCESS(status_line))
            if body:
                self.stdout.write(body)
            return
        self.stdout.write(self.style.ERROR(status_line))
        if body:
            self.stdout.write(body)
        raise CommandError(f"The server answered {response.status_code}.")
