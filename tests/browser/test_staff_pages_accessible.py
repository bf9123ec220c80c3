"""axe-core on every staff page at 1280 and 390 px: the admin's sign-in with its second factor, the
overview, and the list and a record of every model the admin shows (no serious or critical violation)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkAttempt, LinkedAccount, Notification, User
from monolink.mono.events import REAUTHORISATION_REQUIRED
from webhooks.models import WebhookEvent

from .accessibility import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-staff-a11y-1"


@pytest.fixture
def staff_site(db):
    """One row of each kind the admin lists, so every list and record page has something to show."""
    now = timezone.now()
    user = User.objects.create_user("kemi", email="kemi@example.com", password=PASSWORD)
    account = LinkedAccount.objects.create(
        user=user,
        mono_account_id="65f0c0ffee00000000000c01",
        institution_name="GTBank",
        account_number_masked="******4821",
        currency="NGN",
        balance=1234567,
        data_status="AVAILABLE",
        reauth_required=True,
        reauth_requested_at=now - timedelta(hours=3),
    )
    WebhookEvent.objects.create(
        event=REAUTHORISATION_REQUIRED,
        mono_account_id=account.mono_account_id,
        dedupe_key="k1",
        body='{"event": "mono.events.reauthorisation_required", "data": {"account": {"_id": "x"}}}',
        status=WebhookEvent.Status.PROCESSED,
    )
    LinkAttempt.objects.create(user=user, code_hash="0" * 64, institution_name="Kuda Bank")
    Notification.objects.create(account=account, flagged_at=account.reauth_requested_at, step=0, sent_at=now)
    AccessAttempt.objects.create(
        username="kemi", ip_address="203.0.113.9", failures_since_start=2, user_agent="x", path_info="/accounts/login/"
    )
    return account


def signed_in_as_staff(page, live_server) -> None:
    staff = User.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    client = Client()
    client.force_login(staff)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def staff_paths() -> list[str]:
    """The index, then each registered model's list and its first record, as staff reach them."""
    paths = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        if model._meta.label == "procrastinate.ProcrastinateJob":
            continue  # hidden without the task engine (SQLite): nothing to see here
        paths.append(reverse("admin:{}_{}_changelist".format(*info)))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            paths.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    return paths


def test_staff_pages_have_no_serious_accessibility_violations(page, live_server, staff_site):
    signed_in_as_staff(page, live_server)
    for path in staff_paths():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert_accessible(page)


def test_staff_sign_in_with_its_second_factor_has_no_serious_violations(page, live_server, settings, db):
    settings.ADMIN_OTP_REQUIRED = True
    page.goto(f"{live_server.url}/admin/login/")
    assert_accessible(page)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert_accessible(page)


def test_clear_flag_confirmation_looks_destructive_and_refuses_an_empty_reason(
    page, live_server, staff_site, artifacts_dir
):
    signed_in_as_staff(page, live_server)
    page.goto(f"{live_server.url}/admin/accounts/linkedaccount/")
    page.locator("input.action-select").first.check()
    page.locator("select[name=action]").select_option("clear_reauth_flag_action")
    page.locator("button[name=index]").click()  # Django's "Go"
    confirm = page.get_by_role("button", name="Clear the flag")
    back = page.get_by_role("link", name="No, take me back")
    confirm.wait_for()
    style = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
    assert confirm.evaluate(style) != back.evaluate(style)  # red "clear" is no twin of "go back"
    assert confirm.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(186, 33, 33)"  # admin's delete red
    assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(artifacts_dir / "admin-clear-flag-confirm.png"), full_page=True)
    confirm.click()  # no reason: the server refuses it, in words
    page.get_by_text("Give a reason: it is kept in the admin log").wait_for()
    assert LinkedAccount.objects.get(pk=staff_site.pk).reauth_required
    assert_accessible(page)
