"""The user's pages: sign-in, dashboard, and the endpoints the Connect script posts to (the re-auth page
and its other endpoints are in reauth_views.py).

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
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from monolink.client_address import client_ip
from monolink.mono import Deadline

from . import rules, tasks, throttles
from .forms import CodeForm, LinkForm
from .models import LinkAttempt, LinkedAccount
from .reauth_cards import reauth_card

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


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset flow and email, with a throttle and the link built from SITE_URL (a Host
    header is the client's to forge, and the email must point at the real site)."""

    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        # The client behind our proxy, as django-axes counts it: the proxy's own address would make
        # one per-IP count for everyone.
        ip = client_ip(self.request)
        if not throttles.allow_password_reset(email=form.cleaned_data["email"], ip=ip):
            form.add_error(None, "Too many reset requests. Nothing was sent: wait an hour, then try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        self.extra_email_context = {"site_url": settings.SITE_URL}
        return super().form_valid(form)


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
    accounts = list(LinkedAccount.objects.for_user(request.user).order_by("unlinked_at", "institution_name", "id"))
    context = {
        "accounts": accounts,
        "link_attempts": LinkAttempt.objects.for_user(request.user).on_dashboard(),
        "reconnected": rules.take_reconnection_notices(user=request.user, accounts=accounts),
        "connect_js_url": settings.MONO_CONNECT_JS_URL,
        "public_key": _public_key(),
    }
    return _widget_context(render(request, "accounts/dashboard.html", context))


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
    if wants_json:
        return JsonResponse({"status": card.state, "message": card.text, "badge": card.badge})
    messages.success(request, card.text)
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
