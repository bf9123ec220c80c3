"""The sandbox's fake Mono endpoint, mounted at /sandbox/ only when settings.MONO_SANDBOX.

The sandbox widget (static/sandbox/connect.js) POSTs here when the user finishes the fake bank
dialog. We answer with the one-time `code` (as Mono's widget gets one) and, once the answer has been
sent, deliver the webhooks Mono would send, as real HTTP requests with the webhook secret, to the
app's own endpoint: they go through the same secret check and pipeline as Mono's. The fake hosted
re-auth page (what the sandbox client's `initiate_reauth` points to) ends the same way.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import requests
from django.conf import settings
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from . import payloads
from .sandbox import (
    BANKS_BY_CODE,
    bank_for,
    is_account_id,
    issue_code,
    load_hosted_session,
    new_account_id,
    verify_reauth_token,
)
from .types import MonoRequestError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
DELIVERY_ATTEMPTS = 4
DELIVERY_TIMEOUT = (3.05, 20)


class _DeliversAfterClose:
    """Starts the webhook deliveries from close(), which the WSGI server calls once the answer is
    sent. A delivery is an HTTP request to this same server: started before the answer, it would
    wait on a single-worker server that is still busy with this request (a deadlock until timeout).
    """

    def __init__(self, *args, deliveries: list[dict], webhook_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._deliveries = deliveries
        self._webhook_url = webhook_url

    def close(self):
        super().close()
        if self._deliveries:
            deliveries, self._deliveries = self._deliveries, []
            threading.Thread(
                target=deliver, args=(self._webhook_url, deliveries), name="sandbox-webhooks", daemon=True
            ).start()


class _DeliverAfterResponse(_DeliversAfterClose, JsonResponse):
    """The widget's answer (the one-time code), then the webhooks."""


class _RedirectThenDeliver(_DeliversAfterClose, HttpResponseRedirect):
    """The hosted page's way back to the app, then the webhooks (as Mono's hosted page does)."""


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


WRONG_OTP = "000000"  # the sandbox widget's rule too (static/sandbox/connect.js)


@never_cache
@require_http_methods(["GET", "POST"])
def hosted(request, session: str):
    """A fake of Mono's hosted re-auth page (what `mono_url` opens), for when the widget cannot load.

    The same fake bank and rules as the sandbox widget: any username and password, then any 6 digits
    (000000 is a wrong code). Then back to the app's redirect_url, and Mono's webhooks follow. The
    session (account, redirect_url, ref) is signed into the URL, so several app servers can serve it.
    """
    try:
        link = load_hosted_session(session)
    except MonoRequestError as exc:
        return render(request, "sandbox/hosted.html", {"fatal": str(exc)}, status=400)
    context = {"bank": bank_for(link.account_id), "back_url": link.redirect_url, "step": "credentials"}
    if request.method == "GET":
        return render(request, "sandbox/hosted.html", context)
    step = request.POST.get("step")
    if step == "credentials":
        if not request.POST.get("username", "").strip() or not request.POST.get("password", ""):
            context["error"] = "Enter a username and a password (anything works in the sandbox)."
            return render(request, "sandbox/hosted.html", context, status=400)
        return render(request, "sandbox/hosted.html", {**context, "step": "otp"})
    if step == "otp":
        otp = request.POST.get("otp", "").strip()
        error = None
        if not (len(otp) == 6 and otp.isascii() and otp.isdigit()):
            error = "Enter the 6-digit code."
        elif otp == WRONG_OTP:
            error = "That code is wrong: 000000 always is in the sandbox. Enter any other 6 digits."
        if error:
            return render(request, "sandbox/hosted.html", {**context, "step": "otp", "error": error}, status=400)
        log.info("sandbox hosted reauth complete account=%s", link.account_id)
        events = [payloads.account_reauthorized(link.account_id), payloads.account_updated(link.account_id)]
        return _RedirectThenDeliver(link.redirect_url, deliveries=events, webhook_url=_webhook_url())
    return render(request, "sandbox/hosted.html", {**context, "error": "Start again."}, status=400)


app_name = "sandbox"
urlpatterns = [
    path("complete/", complete, name="complete"),
    path("hosted/<str:session>/", hosted, name="hosted"),
]
