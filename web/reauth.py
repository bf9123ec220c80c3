"""The re-auth page and its small endpoints: the credential minted at the click, the status the page
polls until Mono confirms, and "Reconnect on Mono's page" (Mono's hosted re-auth) with its way back.

Thin like the other views: reads through LinkedAccount querysets, changes and Mono calls through
reauth.credentials, each Mono call bounded by MONO_REQUEST_DEADLINE. The page itself never calls Mono.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import LinkedAccount
from accounts.throttles import MonoActionLimited
from monolink.mono import Deadline, MonoError
from reauth import credentials
from reauth.cards import reauth_card

from .forms import bad_request, form_from_request, too_many
from .pages import public_key, safe_next, widget_context

log = logging.getLogger(__name__)

HOSTED_NEXT_KEY = "reauth_hosted_next"  # the session keeps `next` across Mono's hosted page


def _reauth_csp(response: HttpResponse) -> HttpResponse:
    """The widget's script origin, plus where the "Reconnect on Mono's page" form may lead: browsers
    apply the page's form-action to the redirect that follows the post (Mono's hosted page lives on
    *.mono.co; the sandbox's on SITE_URL)."""
    response = widget_context(response)
    hosted = ["https://*.mono.co"]
    if settings.MONO_SANDBOX:
        hosted.append("/".join(settings.SITE_URL.split("/")[:3]))
    response._csp_update = {**getattr(response, "_csp_update", {}), "form-action": hosted}
    return response


def _reauth_page(request: HttpRequest, *, next_url: str, returned: LinkedAccount | None = None) -> HttpResponse:
    """The re-auth page. It never calls Mono (it renders at once, whatever Mono's mood): token mode
    mints the token when the user clicks (reauth_credential below)."""
    accounts = list(LinkedAccount.objects.for_user(request.user).flagged().order_by("reauth_requested_at", "id"))
    if returned is not None and returned.pk not in {a.pk for a in accounts}:
        accounts.append(returned)  # back from Mono's page and already confirmed: show it as done
    cards = [reauth_card(account, returned=returned is not None and account.pk == returned.pk) for account in accounts]
    context = {
        "cards": cards,
        "pending": any(card.state != "ok" for card in cards),
        "needs_user": any(card.state == "needs_reauth" for card in cards),
        "next_url": next_url,
        "mode": settings.MONO_REAUTH_MODE,
        "hosted_available": credentials.hosted_reauth_available(),
        "connect_js_url": settings.MONO_CONNECT_JS_URL,
        "public_key": public_key(),
        "hide_reauth_banner": True,
        "returned": returned is not None,  # back from Mono's page: continue by itself once confirmed
    }
    return _reauth_csp(render(request, "accounts/reauth.html", context))


@never_cache  # Cache-Control: no-store
@login_required
@require_GET
def reauth(request):
    return _reauth_page(request, next_url=_way_out(request))


def _way_out(request: HttpRequest) -> str:
    """Where "Not now" and "Continue" lead: `next`, or the dashboard when `next` is this page itself."""
    return safe_next(request, default=reverse("web:dashboard"), away_from=reverse("web:reauth"))


@never_cache
@login_required
@require_GET
def reauth_returned(request, account_id: int):
    """Where Mono's hosted page sends the user back (redirect_url): the page, waiting for the webhook."""
    account = get_object_or_404(LinkedAccount.objects.for_user(request.user), pk=account_id)
    next_url = request.session.get(HOSTED_NEXT_KEY) or reverse("web:dashboard")
    return _reauth_page(request, next_url=next_url, returned=account)


def _json_error(message: str, *, status: int, state: str = "error") -> JsonResponse:
    return JsonResponse({"status": state, "message": message}, status=status)


def _not_flagged(request, account_id: int) -> JsonResponse:
    """The account is not (or no longer) flagged: confirmed meanwhile (409, so the page shows it), or not ours (404)."""
    account = LinkedAccount.objects.for_user(request.user).filter(pk=account_id).first()
    if account is None:
        return _json_error("No such account.", status=404)
    card = reauth_card(account)
    return JsonResponse({"status": card.state, "message": card.text}, status=409)


@never_cache  # the answer carries a live token in token mode
@login_required
@require_POST
def reauth_credential(request, account_id: int):
    """Token mode mints the re-auth token here, at the user's click, within the request's deadline
    (a slow Mono costs one click a readable message, never the page). Account mode answers the id."""
    try:
        deadline = Deadline.after(settings.MONO_REQUEST_DEADLINE)
        credential = credentials.reauth_credential(user=request.user, account_id=account_id, deadline=deadline)
    except LinkedAccount.DoesNotExist:
        return _not_flagged(request, account_id)
    except MonoActionLimited as exc:
        return too_many(_json_error(exc.user_message, status=429), exc)
    except MonoError as exc:
        log.warning("re-auth credential failed account=%s error=%s", account_id, type(exc).__name__)
        return _json_error(exc.user_message, status=502)
    return JsonResponse({"status": "ready", "credential": credential})


@login_required
@require_POST
def reauth_complete(request, account_id: int):
    """The widget reported success for a re-auth: remember it and wait for Mono's webhook."""
    form, wants_json = form_from_request(request)
    if not form.is_valid():
        return bad_request(form)
    try:
        account = credentials.finish_reauth(user=request.user, account_id=account_id)
    except LinkedAccount.DoesNotExist:
        raise Http404("No such flagged account.") from None
    card = reauth_card(account)
    if wants_json:
        return JsonResponse({"status": card.state, "message": card.text, "badge": card.badge})
    messages.success(request, card.text)
    return redirect(safe_next(request, default=reverse("web:reauth")))


@never_cache
@login_required
@require_GET
def reauth_status(request):
    """The state of the accounts the re-auth page shows (?account=1&account=2), polled by the page
    after the widget's success or the return from Mono's page until Mono's webhook confirms."""
    raw = request.GET.getlist("account")[:20]
    ids = [int(value) for value in raw if value.isascii() and value.isdigit() and len(value) <= 18]
    accounts = LinkedAccount.objects.for_user(request.user).filter(pk__in=ids)
    cards = [reauth_card(account) for account in accounts]
    return JsonResponse(
        {
            "accounts": [card.as_json() for card in cards],
            "needs_user": LinkedAccount.objects.for_user(request.user).needing_user().exists(),
        }
    )


@never_cache
@login_required
@require_POST
def reauth_hosted(request, account_id: int):
    """The "Reconnect on Mono's page" form: ask Mono for its hosted re-auth page (within the request's
    deadline) and send the user there; Mono sends them back to reauth_returned. The link is not stored."""
    next_url = _way_out(request)
    back = reverse("web:reauth") + "?" + urlencode({"next": next_url})
    if not credentials.hosted_reauth_available():
        raise Http404("Mono's hosted re-auth page needs the v2 API.")
    # Our own address from settings, never from the request's Host header: Mono sends the user there.
    redirect_url = settings.SITE_URL + reverse("web:reauth_returned", args=[account_id])
    try:
        deadline = Deadline.after(settings.MONO_REQUEST_DEADLINE)
        mono_url = credentials.start_hosted_reauth(
            user=request.user, account_id=account_id, redirect_url=redirect_url, deadline=deadline
        )
    except LinkedAccount.DoesNotExist:
        if not LinkedAccount.objects.for_user(request.user).filter(pk=account_id).exists():
            raise Http404("No such account.") from None
        return redirect(back)  # confirmed meanwhile: the page shows it
    except MonoActionLimited as exc:
        messages.error(request, exc.user_message)  # the page itself, with the message, as a 429
        return too_many(_reauth_page(request, next_url=next_url), exc)
    except MonoError as exc:
        log.warning("hosted re-auth failed account=%s error=%s", account_id, type(exc).__name__)
        messages.error(request, exc.user_message)
        return redirect(back)
    request.session[HOSTED_NEXT_KEY] = next_url
    return HttpResponseRedirect(mono_url)
