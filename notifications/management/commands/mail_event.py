"""`python manage.py mail_event EVENT (--notification ID | --email ADDRESS)`: send a fake email provider
event about one of our emails to the running server's tracking webhook, like mono_trigger does for
Mono. For trying the whole loop offline (docs/email.md): a bounce marks the user, staff see it,
reminders stop.

It speaks Postmark's webhook format, the one the sandbox's tracking endpoint reads, and goes through
the real endpoint, its basic auth and anymail's parser. Refused outside the sandbox and DEBUG: a fake
bounce would stop a real user's emails.
"""

import json
import secrets

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from monolink.email_providers import WEBHOOK_USER

EVENTS = ("delivered", "bounced", "soft_bounced", "complained")


def postmark_event(kind: str, *, message_id: str, recipient: str) -> dict:
    """One event in Postmark's webhook format (its Delivery, Bounce and SpamComplaint records)."""
    now = timezone.now().isoformat().replace("+00:00", "Z")
    if kind == "delivered":
        return {
            "RecordType": "Delivery",
            "MessageStream": "outbound",
            "MessageID": message_id,
            "Recipient": recipient,
            "DeliveredAt": now,
            "Details": "smtp;250 2.0.0 OK (monolink mail_event)",
            "Metadata": {},
        }
    kinds = {
        "bounced": ("Bounce", "HardBounce", 1, "The server was unable to deliver your message (ex: unknown user)."),
        "soft_bounced": ("Bounce", "SoftBounce", 4096, "The server could not temporarily deliver your message."),
        "complained": ("SpamComplaint", "SpamComplaint", 512, "The subscriber explicitly marked this message as spam."),
    }
    record_type, bounce_type, type_code, description = kinds[kind]
    return {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "ID": secrets.randbelow(10**15),
        "Type": bounce_type,
        "TypeCode": type_code,
        "MessageID": message_id,
        "Metadata": {},
        "Description": description,
        "Details": "fake event from monolink mail_event",
        "Email": recipient,
        "From": settings.DEFAULT_FROM_EMAIL,
        "BouncedAt": now,
        "Inactive": kind != "soft_bounced",
        "CanActivate": True,
    }


class Command(BaseCommand):
    help = (
        "Send a fake email provider event (Postmark's format) about one of our re-auth emails to the "
        "running server's tracking webhook. Sandbox and DEBUG only. Events: " + ", ".join(EVENTS) + "."
    )

    def add_arguments(self, parser):
        parser.add_argument("event", choices=EVENTS)
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--notification", type=int, help="the id of the email (admin: Notifications)")
        which.add_argument("--email", help="the latest email sent to this address")
        parser.add_argument("--url", help="the tracking endpoint (default: SITE_URL + /anymail/postmark/tracking/)")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")

    def handle(self, *args, event, notification, email, url, timeout, **options):
        if not (settings.MONO_SANDBOX or settings.DEBUG):
            raise CommandError(
                "mail_event is for the sandbox and DEBUG: a fake bounce would stop a real user's emails."
            )
        if settings.EMAIL_TRACKING_PROVIDER != "postmark":
            raise CommandError(
                f"mail_event speaks Postmark's format, and this site's tracking endpoint is "
                f"{settings.EMAIL_TRACKING_PROVIDER or 'not mounted'}: send a test event from your provider's console."
            )
        sent = self._notification(notification, email)
        if not sent.message_id:
            raise CommandError(f"Email #{sent.pk} has no message id (sent before tracking existed): nothing to match.")
        recipient = email or sent.account.user.email
        url = url or settings.SITE_URL + reverse("anymail:postmark_tracking_webhook")
        payload = postmark_event(event, message_id=sent.message_id, recipient=recipient)
        self.stdout.write(f"POST {url}  {event}  email #{sent.pk} ({sent.kind}) to {recipient}")
        try:
            response = requests.post(
                url,
                data=json.dumps(payload),
                headers={"content-type": "application/json"},
                auth=(WEBHOOK_USER, settings.EMAIL_WEBHOOK_SECRET),
                timeout=timeout,
            )
        except requests.ConnectionError:
            raise CommandError(f"Could not connect to {url}: is the server running (./dev run)? Or give --url.")
        except requests.RequestException as exc:
            raise CommandError(f"Request to {url} failed: {type(exc).__name__}.")
        status_line = f"{response.status_code} {response.reason or ''}".strip()
        if not 200 <= response.status_code < 300:
            self.stdout.write(self.style.ERROR(status_line))
            raise CommandError(f"The server answered {response.status_code}: {response.text[:300].strip()}")
        self.stdout.write(self.style.SUCCESS(status_line))
        if event in ("bounced", "complained"):
            users = settings.SITE_URL + reverse("admin:accounts_user_changelist") + "?email=unreachable"
            self.stdout.write(f"{recipient} can't be reached by email now; staff see it at {users}")

    def _notification(self, pk: int | None, email: str | None) -> Notification:
        emails = Notification.objects.select_related("account__user")
        found = emails.filter(pk=pk).first() if pk else emails.filter(account__user__email__iexact=email).first()
        if found is None:
            raise CommandError(f"No re-auth email {'#' + str(pk) if pk else 'sent to ' + str(email)}.")
        return found
