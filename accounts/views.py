"""The user's pages: sign-in, dashboard, re-auth page, and the two endpoints the Connect script posts to.

Thin on purpose: pages read through LinkedAccount querysets, every change goes through accounts.rules.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from monolink.mono import Deadline, MonoError

from . import rules, tasks
from .forms import CodeForm, LinkForm
from .models import LinkAttempt, LinkedAccount

log = logging.getLogger(__name__)


def safe_next(request: HttpRequest, default: str = "") -> str:
    """`next` from the query or form, only when it points back at this site (no open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_success_url(self) -> str:
        # LoginView already drops an unsafe `next` and falls back to LOGIN_REDIRECT_URL.
        target = super().get_success_url()
        if LinkedAccount.objects.for_user(self.request.user).needing_user().exists():
            return reverse("accounts:reauth") + "?" + urlencode({"next": target})
        return target


def _widget_context(response: HttpResponse) -> HttpResponse:
    """Allow the Connect script's origin on the pages that load it.

    Read from settings at request time (not frozen into CONTENT_SECURITY_POLICY at import), so the
    policy always names exactly the script the page loads; the sandbox's script is same-origin.
    """
    url = settings.MONO_CONNECT_JS_URL
    if "://" in url:
        response._csp_update = {"script-src": ["/".join(url.split("/")[:3])]}
    return response


def _public_key() -> str:
    # The sandbox widget accepts any key; Connect itself refuses an empty one.
    return settings.MONO_PUBLIC_KEY or ("test_pk_sandbox" if settings.MONO_SANDBOX else "")


@login_required
@require_GET
def dashboard(request):
    accounts = LinkedAccount.objects.for_user(request.user).order_by("unlinked_at", "institution_name", "id")
    context = {
        "accounts": accounts,
        "link_attempts": LinkAttempt.objects.for_user(request.user).on_dashboard(),
        "connect_js_url": settings.MONO_CONNECT_JS_URL,
        "public_key": _public_key(),
    }
    return _widget_context(render(request, "accounts/dashboard.html", context))


def _reauth_csp(response: HttpResponse) -> HttpResponse:
    """The widget's script origin, plus where the "Reconnect on Mono's page" form may lead: browsers
    apply the page's form-action to the redirect that follows the post (Mono's hosted page lives on
    *.mono.co; the sandbox's on SITE_URL)."""
    response = _widget_context(response)
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
        "pending": any(card["state"] != "ok" for card in cards),
        "needs_user": any(card["state"] == "needs_reauth" for card in cards),
        "next_url": next_url,
        "mode": settings.MONO_REAUTH_MODE,
        "hosted_available": rules.hosted_reauth_available(),
        "connect_js_url": settings.MONO_CONNECT_JS_URL,
        "public_key": _public_key(),
        "hide_reauth_banner": True,
    }
    return _reauth_csp(render(request, "accounts/reauth.html", context))


def reauth_card(account: LinkedAccount, *, returned: bool = False) -> dict:
    """One account's card on the re-auth page, as the page renders it and the status endpoint reports it.

    `returned`: the user is back from Mono's hosted page; until Mono confirms, that account is
    "waiting" (the user did their part) rather than "needs_reauth".
    """
    bank = account.institution_name or "Your bank"
    state = account.state
    if state == LinkedAccount.State.UNLINKED:
        key, badge, text = "ok", "Unlinked", f"{bank} {account.account_number_masked} was unlinked: nothing to do."
    elif state == LinkedAccount.State.OK:
        key, badge, text = "ok", "Reconnected", f"{bank} reconnected. Fresh data is on its way."
    elif state == LinkedAccount.State.AWAITING or returned:
        key, badge, text = "awaiting", "Waiting for your bank", "Waiting for your bank's confirmation…"
    else:
        key, badge = "needs_reauth", "Needs reconnecting"
        since = account.reauth_requested_at
        text = "Your bank asked you to sign in again" + (
            f" on {date_format(timezone.localtime(since), 'j M Y, H:i')}." if since else "."
        )
    return {"account": account, "id": account.pk, "bank": bank, "state": key, "badge": badge, "text": text}


@never_cache  # Cache-Control: no-store
@login_required
@require_GET
def reauth(request):
    return _reauth_page(request, next_url=safe_next(request, default=reverse("accounts:dashboard")))


@never_cache
@login_required
@require_GET
def reauth_returned(request, account_id: int):
    """Where Mono's hosted page sends the user back (redirect_url): the page, waiting for the webhook."""
    account = get_object_or_404(LinkedAccount.objects.for_user(request.user), pk=account_id)
    next_url = request.session.get(HOSTED_NEXT_KEY) or reverse("accounts:dashboard")
    return _reauth_page(request, next_url=next_url, returned=account)


def _json_error(message: str, *, status: int, state: str = "error") -> JsonResponse:
    return JsonResponse({"status": state, "message": message}, status=status)


def _not_flagged(request, account_id: int) -> JsonResponse:
    """The account is not (or no longer) flagged: confirmed meanwhile (409, so the page shows it), or not ours (404)."""
    account = LinkedAccount.objects.for_user(request.user).filter(pk=account_id).first()
    if account is None:
        return _json_error("No such account.", status=404)
    card = reauth_card(account)
    return JsonResponse({"status": card["state"], "message": card["text"]}, status=409)


@never_cache  # the answer carries a live token in token mode
@login_required
@require_POST
def reauth_credential(request, account_id: int):
    """Token mode mints the re-auth token here, at the user's click, within the request's deadline
    (a slow Mono costs one click a readable message, never the page). Account mode answers the id."""
    try:
        deadline = Deadline.after(settings.MONO_REQUEST_DEADLINE)
        credential = rules.reauth_credential(user=request.user, account_id=account_id, deadline=deadline)
    except LinkedAccount.DoesNotExist:
        return _not_flagged(request, account_id)
    except MonoError as exc:
        log.warning("re-auth credential failed account=%s error=%s", account_id, type(exc).__name__)
        return _json_error(exc.user_message, status=502)
    return JsonResponse({"status": "ready", "credential": credential})


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
            "accounts": [{k: card[k] for k in ("id", "bank", "state", "badge", "text")} for card in cards],
            "needs_user": LinkedAccount.objects.for_user(request.user).needing_user().exists(),
        }
    )


HOSTED_NEXT_KEY = "reauth_hosted_next"


@never_cache
@login_required
@require_POST
def reauth_hosted(request, account_id: int):
    """ "Reconnect on Mono's page": ask Mono for its hosted re-auth page (within the request's deadline)
    and send the user there; Mono sends them back to reauth_returned. The link is not stored."""
    next_url = safe_next(request, default=reverse("accounts:dashboard"))
    back = reverse("accounts:reauth") + "?" + urlencode({"next": next_url})
    if not rules.hosted_reauth_available():
        raise Http404("Mono's hosted re-auth page needs the v2 API.")
    # Our own address from settings, never from the request's Host header: Mono sends the user there.
    redirect_url = settings.SITE_URL + reverse("accounts:reauth_returned", args=[account_id])
    try:
        deadline = Deadline.after(settings.MONO_REQUEST_DEADLINE)
        mono_url = rules.start_hosted_reauth(
            user=request.user, account_id=account_id, redirect_url=redirect_url, deadline=deadline
        )
    except LinkedAccount.DoesNotExist:
        if not LinkedAccount.objects.for_user(request.user).filter(pk=account_id).exists():
            raise Http404("No such account.") from None
        return redirect(back)  # confirmed meanwhile: the page shows it
    except MonoError as exc:
        log.warning("hosted re-auth failed account=%s error=%s", account_id, type(exc).__name__)
        messages.error(request, exc.user_message)
        return redirect(back)
    request.session[HOSTED_NEXT_KEY] = next_url
    return HttpResponseRedirect(mono_url)


def _code_from(request: HttpRequest, form_class: type[CodeForm] = CodeForm) -> tuple[CodeForm, bool]:
    """Accept the script's JSON body or a plain form post; a malformed body is just an invalid form."""
    wants_json = request.content_type == "application/json"
    if wants_json:
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            data = None
        # Only strings count: a number where the code belongs is garbage, not a code to coerce.
        fields = {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
        form = form_class(fields)
    else:
        form = form_class(request.POST)
    return form, wants_json


def _bad_request(form: CodeForm) -> JsonResponse:
    errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in form.errors.items())
    return JsonResponse({"status": "error", "message": f"Invalid request ({errors})."}, status=400)


@login_required
@require_POST
def reauth_complete(request, account_id: int):
    """The widget reported success for a re-auth: remember it and wait for Mono's webhook."""
    form, wants_json = _code_from(request)
    if not form.is_valid():
        return _bad_request(form)
    try:
        account = rules.record_reauth_attempt(user=request.user, account_id=account_id)
    except LinkedAccount.DoesNotExist:
        # Mono's account_reauthorized webhook may have beaten the browser here: that is success.
        account = LinkedAccount.objects.for_user(request.user).linked().filter(pk=account_id).first()
        if account is None or account.reauth_required:
            raise Http404("No such flagged account.") from None
    card = reauth_card(account)
    status, message = card["state"], card["text"]
    if wants_json:
        return JsonResponse({"status": status, "message": message, "badge": card["badge"]})
    messages.success(request, message)
    return redirect(safe_next(request, default=reverse("accounts:reauth")))


@login_required
@require_POST
def link_complete(request):
    """The widget finished linking a new bank: exchange its code now, or say it is pending (202)."""
    form, wants_json = _code_from(request, LinkForm)
    if not form.is_valid():
        return _bad_request(form)
    try:
        attempt = tasks.start_link(
            user=request.user,
            code=form.cleaned_data["code"],
            institution_name=form.cleaned_data["institution"],
            deadline=Deadline.after(settings.MONO_REQUEST_DEADLINE),
        )
    except rules.LinkCodeTaken as exc:
        return _link_failed(request, wants_json, str(exc), status=409)
    answer = _attempt_answer(attempt)
    if attempt.status == LinkAttempt.Status.FAILED:
        # Mono took the code but the account is another user's (409), or Mono refused the code (502).
        return _link_failed(request, wants_json, answer["message"], status=409 if attempt.mono_account_id else 502)
    if attempt.status == LinkAttempt.Status.LINKED:
        messages.success(request, answer["message"])  # shown on the dashboard the script goes to
    if wants_json:
        return JsonResponse(answer, status=202 if attempt.status == LinkAttempt.Status.PENDING else 200)
    return redirect(answer["redirect"])


@login_required
@require_GET
def link_status(request, attempt_id: int):
    """What became of one of the user's link attempts (the dashboard polls it while pending)."""
    attempt = get_object_or_404(LinkAttempt.objects.for_user(request.user), pk=attempt_id)
    return JsonResponse(_attempt_answer(attempt), headers={"Cache-Control": "no-store"})


def _attempt_answer(attempt: LinkAttempt) -> dict:
    account = None
    if attempt.status == LinkAttempt.Status.LINKED:
        account = LinkedAccount.objects.filter(mono_account_id=attempt.mono_account_id).first()
    return {
        "status": attempt.status,
        "message": attempt.message(account),
        "attempt": attempt.pk,
        "account": account.pk if account else None,
        "status_url": reverse("accounts:link_status", args=[attempt.pk]),
        "redirect": reverse("accounts:dashboard"),
    }


def _link_failed(request, wants_json: bool, message: str, *, status: int) -> HttpResponse:
    if wants_json:
        return JsonResponse({"status": "error", "message": message}, status=status)
    messages.error(request, message)
    return redirect("accounts:dashboard")
