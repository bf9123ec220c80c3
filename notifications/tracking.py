"""The email provider's tracking webhook: anymail's own view for the configured provider, mounted at
anymail's usual address (/anymail/<provider>/tracking/, docs/email.md).

anymail checks the caller (basic auth with EMAIL_WEBHOOK_SECRET, and the provider's signature where
there is one: Mailgun's, SendGrid's when its key is set) and parses the provider's format into
events for its `tracking` signal (notifications.receivers). One thing is added here: anymail answers
a body it cannot read with a 500 (a JSON error, a missing field), which the provider would retry for
days; here that is a 400 that says so, and nothing is recorded. A failure to record a good event
stays a 500, so the provider sends it again.
"""

from __future__ import annotations

import logging

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from django.http import HttpResponse

log = logging.getLogger(__name__)

# anymail's URL names, for the providers docs/email.md documents.
URL_NAMES = {
    "amazon_ses": "amazon_ses_tracking_webhook",
    "postmark": "postmark_tracking_webhook",
    "mailgun": "mailgun_tracking_webhook",
    "sendgrid": "sendgrid_tracking_webhook",
}
_UNREADABLE = (AnymailError, ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError)


class Unreadable(Exception):
    """The body is not this provider's tracking event."""


class ReadableRefusals:
    """Mixed in before anymail's view: what it refuses or cannot read is a 4xx with a sentence."""

    def run_validators(self, request):
        try:
            super().run_validators(request)
        except AnymailWebhookValidationFailure:
            raise
        except _UNREADABLE as exc:  # SES reads the body while validating
            raise Unreadable from exc

    def parse_events(self, request):
        try:
            return list(super().parse_events(request))
        except _UNREADABLE as exc:
            raise Unreadable from exc

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AnymailWebhookValidationFailure:
            # anymail's message names what failed, never the offered credentials.
            log.warning("email tracking webhook refused: not authenticated provider=%s", self.esp_name)
            return _refusal(403, "Not authenticated: wrong or missing basic auth or signature. Nothing was recorded.")
        except Unreadable as exc:
            # The exception type only: anymail puts the raw body in some messages.
            kind = type(exc.__cause__).__name__
            log.warning("email tracking webhook refused: unreadable provider=%s (%s)", self.esp_name, kind)
            return _refusal(400, f"This is not a {self.esp_name} tracking event. Nothing was recorded.")


def _refusal(status: int, sentence: str) -> HttpResponse:
    return HttpResponse(sentence + "\n", status=status, content_type="text/plain; charset=utf-8")


def tracking_patterns(*providers: str) -> list:
    """anymail's tracking URL for each provider, its view with ReadableRefusals mixed in."""
    patterns = []
    for pattern in anymail_urls.urlpatterns:
        if pattern.name in {URL_NAMES[p] for p in providers}:
            view_class = pattern.callback.view_class
            safe = type(view_class.__name__, (ReadableRefusals, view_class), {})
            patterns.append(type(pattern)(pattern.pattern, safe.as_view(), name=pattern.name))
    return patterns
