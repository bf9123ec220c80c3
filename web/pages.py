"""The user's pages: sign-in, "Forgot password?" and the dashboard (the re-auth page is in web.reauth,
the link endpoints in web.linking).

Thin on purpose: pages read through LinkedAccount querysets and change state through the services
(reauth, linking, notifications); the JSON API calls the same ones.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from accounts import throttles
from accounts.lockout import lift_sign_in_lockout, sign_in_tries_left
from accounts.models import LinkAttempt, LinkedAccount
from monolink.client_address import client_ip
from reauth import credentials
from reauth.notices import take_reconnection_notices

from .forms import QueuedPasswordResetForm, SignInForm

log = logging.getLogger(__name__)


def safe_next(request: HttpRequest, default: str = "", *, away_from: str = "") -> str:
    """`next` from the query or form, only when it points back at this site (no open redirect) and,
    given `away_from`, not at that page: a way out that leads back to its own page is a loop."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = bool(target) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if safe and not (away_from and points_at(target, away_from)):
        return target
    return default


def points_at(url: str, path: str) -> bool:
    """Whether a same-site `url` opens the page at `path`, whatever its query."""
    return urlsplit(url).path == path


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_success_url(self) -> str:
        # LoginView already drops an unsafe `next` and falls back to LOGIN_REDIRECT_URL.
        target = super().get_success_url()
        if LinkedAccount.objects.for_user(self.request.user).needing_user().exists():
            reauth_page = reverse("web:reauth")
            if points_at(target, reauth_page):  # the email's link: the page's way out is the dashboard
                return reauth_page
            return reauth_page + "?" + urlencode({"next": target})
        return target

    def form_invalid(self, form):
        # The try before the last says so: a lockout should never come as a surprise.
        username = form.data.get("username", "")
        last_try = bool(username) and sign_in_tries_left(self.request, username=username) == 1
        lockout_minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60) if settings.AXES_COOLOFF_TIME else 0
        context = self.get_context_data(form=form, last_try=last_try, lockout_minutes=lockout_minutes)
        return self.render_to_response(context)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset flow with a throttle; the email goes through the mail queue (QueuedPasswordResetForm),
    so a known and an unknown address get the same answer as fast, and its link is built from SITE_URL
    (a Host header is the client's to forge, and the email must point at the real site)."""

    form_class = QueuedPasswordResetForm

    def form_valid(self, form):
        # The client behind our proxy, as django-axes counts it: the proxy's own address would make
        # one per-IP count for everyone.
        ip = client_ip(self.request)
        if not throttles.allow_password_reset(email=form.cleaned_data["email"], ip=ip):
            form.add_error(None, "Too many reset requests. Nothing was sent: wait an hour, then try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's "choose a new password" page; saving it also lifts the username's sign-in lockout."""

    def form_valid(self, form):
        response = super().form_valid(form)
        lift_sign_in_lockout(username=form.user.get_username())
        return response


def widget_context(response: HttpResponse) -> HttpResponse:
    """Allow the Connect script's origin on the pages that load it.

    Read from settings at request time (not frozen into CONTENT_SECURITY_POLICY at import), so the
    policy always names exactly the script the page loads; the sandbox's script is same-origin.
    """
    url = settings.MONO_CONNECT_JS_URL
    if "://" in url:
        response._csp_update = {"script-src": ["/".join(url.split("/")[:3])]}
    return response


def public_key() -> str:
    return credentials.widget_public_key()


@login_required
@require_GET
def dashboard(request):
    accounts = list(LinkedAccount.objects.for_user(request.user).in_display_order())
    context = {
        "accounts": accounts,
        "link_attempts": LinkAttempt.objects.for_user(request.user).on_dashboard(),
        "reconnected": take_reconnection_notices(user=request.user, accounts=accounts),
        "connect_js_url": settings.MONO_CONNECT_JS_URL,
        "public_key": public_key(),
    }
    return widget_context(render(request, "accounts/dashboard.html", context))
