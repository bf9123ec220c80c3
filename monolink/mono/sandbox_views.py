"""The sandbox's fake Mono endpoint, mounted at /sandbox/ only when settings.MONO_SANDBOX.

The sandbox widget (static/sandbox/connect.js) POSTs here when the user finishes the fake bank
dialog. We answer with the one-time `code` (as Mono's widget gets one) and, once the answer has been
sent, deliver the webhooks Mono would send, as real HTTP requests with the webhook secret, to the
app's own endpoint: they go through the same secret check and pipeline as Mono's.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import requests
from django.conf import settings
from django.http import JsonResponse
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import payloads
from .sandbox import BANKS_BY_CODE, is_account_id, issue_code, new_account_id, verify_reauth_token
from .types import MonoRequestError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
DELIVERY_ATTEMPTS = 4
DELIVERY_TIMEOUT = (3.05, 20)


class _DeliverAfterResponse(JsonResponse):
    """Starts the webhook deliveries from close(), which the WSGI server calls once the answer is
    sent. A delivery is an HTTP request to this same server: started before the answer, it would
    wait on a single-worker server that is still busy with this request (a deadlock until timeout).
    """

    def __init__(self, data, *, deliveries: list[dict], webhook_url: str, **kwargs):
        super().__init__(data, **kwargs)
        self._deliveries = deliveries
        self._webhook_url = webhook_url

    def close(self):
        super().close()
        if self._deliveries:
            deliveries, self._deliveries = self._deliveries, []
            threading.Thread(
                target=deliver, args=(self._webhook_url, deliveries), name="sandbox-webhooks", daemon=True
            ).start()


def deliver(url: str, events: list[dict]) -> None:
    """POST each payload in order, like Mono: retried on connection errors and non-2xx answers."""
    secret = settings.MONO_WEBHOOK_SECRET
    with requests.Session() as session:
        for payload in events:
            body = json.dumps(payload)
            for attempt in range(1, DELIVERY_ATTEMPTS + 1):
                try:
                    response = session.post(
                        url,
                        data=body,
                        headers={"content-type": "application/json", "mono-webhook-secret": secret},
                        timeout=DELIVERY_TIMEOUT,
                    )
                    outcome = str(response.status_code)
                    if 200 <= response.status_code < 300:
                        log.info("sandbox webhook %s → %s", payload["event"], outcome)
                        break
                except requests.RequestException as exc:
                    outcome = type(exc).__name__
                log.warning("sandbox webhook %s → %s (attempt %d)", payload["event"], outcome, attempt)
                if attempt < DELIVERY_ATTEMPTS:
                    time.sleep(0.5 * 2 ** (attempt - 1))


def _webhook_url() -> str:
    # Configured, never from the request: the delivery carries the webhook secret, and the Host header
    # is the client's to write (ALLOWED_HOSTS ignores the port, so 127.0.0.1:<any port> passes it).
    return settings.MONO_SANDBOX_WEBHOOK_URL or settings.SITE_URL + reverse("webhooks:mono")


def _bad(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


@csrf_exempt  # this view is the fake Mono: the widget calls it like a third-party service
@require_POST
def complete(request):
    """{"mode": "link", "bank_code": "058"} or {"mode": "reauth", "token"|"account_id": "…"} → {"code"}."""
    if len(request.body) > MAX_BODY_BYTES:
        return _bad("Request body too large.")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _bad("Expected a JSON object.")
    if not isinstance(body, dict):
        return _bad("Expected a JSON object.")
    mode = body.get("mode")
    if mode == "link":
        bank_code = body.get("bank_code")
        if not isinstance(bank_code, str) or bank_code not in BANKS_BY_CODE:
            return _bad(f"Unknown bank_code; expected one of {', '.join(BANKS_BY_CODE)}.")
        account_id = new_account_id(bank_code)
        events = [payloads.account_connected(account_id), payloads.account_updated(account_id)]
    elif mode == "reauth":
        token, account_id = body.get("token"), body.get("account_id")
        if token:
            try:
                account_id = verify_reauth_token(token)
            except MonoRequestError as exc:
                return _bad(str(exc))
        elif not is_account_id(account_id):
            return _bad("Re-auth needs a token or an account_id (24 hex characters).")
        events = [payloads.account_reauthorized(account_id), payloads.account_updated(account_id)]
    else:
        return _bad("mode must be 'link' or 'reauth'.")
    log.info("sandbox %s complete account=%s", mode, account_id)
    return _DeliverAfterResponse({"code": issue_code(account_id)}, deliveries=events, webhook_url=_webhook_url())


app_name = "sandbox"
urlpatterns = [path("complete/", complete, name="complete")]
