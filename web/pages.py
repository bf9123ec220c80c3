"""The user's pages: sign-in, "Forgot password?" and the dashboard (the re-auth page is in web.reauth,
the link endpoints in web.linking).

Thin on purpose: pages read through LinkedAccount querysets and change state through the services
(reauth, linking, notifications); the JSON API calls the same ones.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from accounts import throttles
from accounts.models import LinkAttempt, LinkedAccount
from monolink.client_address import client_ip
from reauth import credentials
from reauth.notices import take_reconnection_notices

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
            return reverse("web:reauth") + "?" + urlencode({"next": target})
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
