import logging
import time

from django.db import transaction
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from monolink import log_context, metrics
from monolink.client_address import client_ip

from . import pipeline
from .authentication import MonoWebhookSecretAuthentication
from .parsers import JsonBody, MonoJSONParser, read_unframed
from .parsing import is_text

log = logging.getLogger(__name__)


_REFUSALS = {
    400: "rejected",
    401: "unauthorized",
    403: "unauthorized",
    411: "rejected",
    413: "too_large",
    415: "rejected",
}


class MonoWebhookView(APIView):
    """POST /webhooks/mono/: Mono's deliveries. Authenticate, hand the parsed body to the pipeline, answer.

    CSRF-exempt (APIView.as_view does that, and our authentication has no session to protect), not
    behind login, and outside ATOMIC_REQUESTS: the pipeline runs its own transactions so a handler
    failure can roll back while the failure itself is still recorded. The body is read, size-checked
    and decoded once, by MonoJSONParser (413, 400; 415 for a non-JSON content type), or for a chunked
    body without Content-Length by read_unframed (gunicorn: read up to the limit; elsewhere 411).
    """

    authentication_classes = [MonoWebhookSecretAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [MonoJSONParser]
    throttle_classes: list = []  # Mono retries what we refuse; throttling would only add retries

    @classmethod
    def as_view(cls, **initkwargs):
        return transaction.non_atomic_requests(super().as_view(**initkwargs))

    def post(self, request):
        parsed, sender = request.data, {"headers": request.headers, "remote_ip": client_ip(request)}
        if not isinstance(parsed, JsonBody):  # no Content-Length: maybe chunked (411 where unreadable)
            parsed = read_unframed(request) or parsed
        started = time.perf_counter()
        if isinstance(parsed, JsonBody):
            event_id = parsed.payload.get("event_id") if isinstance(parsed.payload, dict) else None
            if isinstance(event_id, str) and is_text(event_id):  # a lone surrogate is not UTF-8: no log line
                log_context.bind(mono_event_id=event_id[:64])
            self.outcome = pipeline.receive(body=parsed.raw, payload=parsed.payload, **sender)
        else:  # DRF skips the parser for an empty body: the pipeline says what is wrong with it
            self.outcome = pipeline.receive(body=b"", **sender)
        self.seconds = time.perf_counter() - started
        return Response({"detail": self.outcome.detail}, status=self.outcome.http_status)

    def finalize_response(self, request, response, *args, **kwargs):
        # Every answer counts once, refusals (401, 413, 415) included: the one place they all pass.
        outcome = getattr(self, "outcome", None)
        if outcome is not None and outcome.delivery is not None:
            label = "duplicate" if outcome.duplicate else outcome.delivery.status
            metrics.observe_webhook(event=outcome.delivery.event, outcome=label, seconds=self.seconds)
        else:
            code = response.status_code
            metrics.observe_webhook(event=None, outcome=_REFUSALS.get(code, f"http_{code}"))
        # The pipeline wrote this delivery's one INFO line (ids included): the access line steps down.
        response.logged_by_view = outcome is not None and outcome.delivery is not None
        return super().finalize_response(request, response, *args, **kwargs)
