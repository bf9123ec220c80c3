"""Mono's webhook authentication: a static shared secret in the `mono-webhook-secret` header.

Mono signs nothing and publishes no IP list (docs/mono.md), so anything carrying the secret is
trusted, and the secret itself must never be stored, logged or echoed. The comparison is constant
time so the answer's timing does not leak how much of a guess was right.
"""

import hmac
import logging

from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

log = logging.getLogger(__name__)

HEADER = "mono-webhook-secret"


class MonoSender:
    """The authenticated party: Mono (or whoever holds the shared secret). Not a Django user."""

    is_authenticated = True
    is_anonymous = False

    def __str__(self) -> str:
        return "mono"


class MonoWebhookSecretAuthentication(BaseAuthentication):
    def authenticate(self, request):
        expected = settings.MONO_WEBHOOK_SECRET
        offered = request.headers.get(HEADER)
        # One line per refusal; it names the problem and the sender, never the offered value.
        if offered is None:
            log.warning("webhook refused: no %s header (ip=%s)", HEADER, request.META.get("REMOTE_ADDR"))
            raise AuthenticationFailed(f"Missing {HEADER} header.")
        if not expected or not hmac.compare_digest(offered.encode("utf-8"), expected.encode("utf-8")):
            log.warning("webhook refused: wrong %s (ip=%s)", HEADER, request.META.get("REMOTE_ADDR"))
            raise AuthenticationFailed(f"Invalid {HEADER}.")
        return (MonoSender(), None)

    def authenticate_header(self, request) -> str:
        # A value here makes DRF answer 401 (not 403) to a missing or wrong secret.
        return HEADER
