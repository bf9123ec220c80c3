"""A bounce, as people see it in a real browser: the user's dashboard asks them to check their
address, and staff's account page says the user can't be reached by email. The bounce arrives
through the live server's tracking endpoint, as the provider would send it."""

from __future__ import annotations

import json

import pytest
import requests
from django.utils import timezone

from accounts.models import LinkedAccount, Notification, User
from tests.browser.test_signin_and_admin import keep_screenshot, no_horizontal_scroll, signed_in_as, signed_in_as_staff
from tests.email_support import MESSAGE_IDS, SECRET, payload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Long enough to wrap on a phone: the notice must hold it without a sideways scroll.
ADDRESS = "adaeze.chioma.okonkwo-balogun.savings@mail.example.com"


@pytest.fixture
def bounced(live_server):
    user = User.objects.create_user("adaeze", email=ADDRESS, password="pw-notice-12345")
    account = LinkedAccount.objects.create(
        user=user,
        mono_account_id="65f0c0ffee00000000000b01",
        institution_name="GTBank",
        account_name="ADAEZE OKONKWO",
        account_number_masked="******1093",
        reauth_required=True,
        reauth_requested_at=timezone.now(),
    )
    Notification.objects.create(
        account=account,
        flagged_at=account.reauth_requested_at,
        step=0,
        sent_at=timezone.now(),
        message_id=MESSAGE_IDS["postmark"],
    )
    bounce = payload("postmark", "bounced") | {"Email": ADDRESS}
    answer = requests.post(
        f"{live_server.url}/anymail/postmark/tracking/",
        data=json.dumps(bounce),
        headers={"content-type": "application/json"},
        auth=("anymail", SECRET),
        timeout=10,
    )
    assert answer.status_code == 200
    return account


@pytest.mark.parametrize("width", [1280, 390])
def test_the_dashboard_asks_the_user_to_check_their_address_above_their_accounts(
    page, live_server, bounced, width, artifacts_dir
):
    signed_in_as(page, live_server, bounced.user)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/")

    notice = page.get_by_test_id("email-unreachable-notice")
    assert notice.inner_text().startswith("Please check your email address.")
    assert ADDRESS in notice.inner_text()
    box, accounts = notice.bounding_box(), page.locator("ul.accounts").bounding_box()
    assert box["y"] + box["height"] <= accounts["y"]  # read before the accounts it is about
    assert box["x"] >= 0 and box["x"] + box["width"] <= width  # the long address wraps inside
    assert no_horizontal_scroll(page)
    keep_screenshot(page, artifacts_dir, f"dashboard-email-unreachable-{width}.png")


def test_staff_see_on_the_account_page_that_email_cant_reach_the_user(page, live_server, bounced, artifacts_dir):
    signed_in_as_staff(page, live_server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/accounts/linkedaccount/{bounced.pk}/change/")

    row = page.locator(".field-user_email")
    assert "Can't be reached by email" in row.inner_text()
    assert "Hard bounce" in row.inner_text()
    assert "Bounced" in page.locator(".inline-group").inner_text()
    assert no_horizontal_scroll(page)
    keep_screenshot(page, artifacts_dir, "admin-account-email-unreachable.png")

    page.goto(f"{live_server.url}/admin/")
    assert page.locator('[data-count="unreachable"]').inner_text() == "1"
    page.locator('[data-count="unreachable"]').click()
    page.get_by_role("link", name="adaeze").wait_for()
