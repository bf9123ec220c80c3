import ipaddress
import logging
import time

from django.conf import settings
from django.db import transaction
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from monolink import log_context, metrics

from . import pipeline
from .authentication import MonoWebhookSecretAuthentication

log = logging.getLogger(__name__)


def client_ip(meta) -> str | None:
    """The sender's address for the delivery log: the first X-Forwarded-For hop, else REMOTE_ADDR.

    Informational only (Mono publishes no IP list and the header is easy to forge). Ports are
    stripped ("1.2.3.4:5678", "[2001:db8::1]:443"); anything that is not an address gives None.
    """
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    candidate = forwarded.split(",")[0].strip() if forwarded.strip() else meta.get("REMOTE_ADDR", "")
    candidate = (candidate or "").strip()
    if candidate.startswith("["):  # [IPv6]:port
        candidate = candidate[1:].split("]", 1)[0]
    elif candidate.count(":") == 1:  # IPv4:port (bare IPv6 has several colons)
        candidate = candidate.split(":", 1)[0]
    candidate = candidate.split("%", 1)[0]  # an IPv6 zone id means nothing to us
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


_REFUSALS = {400: "rejected", 401: "unauthorized", 403: "unauthorized", 413: "too_large", 415: "rejected"}


class MonoWebhookView(APIView):
    """POST /webhooks/mono/: Mono's deliveries. Authenticate, limit the size, hand to the pipeline.

    CSRF-exempt (APIView.as_view does that, and our authentication has no session to protect), not
    behind login, and outside ATOMIC_REQUESTS: the pipeline runs its own transactions so a handler
    failure can roll back while the failure itself is still recorded.
    """

    authentication_classes = [MonoWebhookSecretAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    throttle_classes: list = []  # Mono retries what we refuse; throttling would only add retries

    @classmethod
    def as_view(cls, **initkwargs):
        return transaction.non_atomic_requests(super().as_view(**initkwargs))

    def post(self, request):
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        # Check the declared length before reading: a huge body is refused without buffering it.
        if declared > limit or len(request.body) > limit:
            log.warning("webhook refused: body over the %d byte limit", limit)
            return Response({"detail": f"Body too large: the limit is {limit} bytes."}, status=413)
        # DRF's negotiation: 415 for a non-JSON content type, 400 with the parse error for bad JSON.
        if isinstance(request.data, dict) and isinstance(request.data.get("event_id"), str):
            log_context.bind(mono_event_id=request.data["event_id"][:64])
        started = time.perf_counter()
        self.outcome = pipeline.receive(body=request.body, headers=request.headers, remote_ip=client_ip(request.META))
        self.seconds = time.perf_counter() - started
        return Response({"detail": self.outcome.detail}, status=self.outcome.http_status)

    def finalize_response(self, request, response, *args, **kwargs):
        # Every answer counts once, refusals (401, 413, 415) included: the one place they all pass.
        outcome = getattr(self, "outcome", None)
        if outcome is not None and outcome.event is not None:
            label = "duplicate" if outcome.duplicate else outcome.event.status
            metrics.observe_webhook(event=outcome.event.event, outcome=label, seconds=self.seconds)
        else:
            code = response.status_code
            metrics.observe_webhook(event=None, outcome=_REFUSALS.get(code, f"http_{code}"))
        return super().finalize_response(request, response, *args, **kwargs)
