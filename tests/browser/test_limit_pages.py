"""What people see when a limit stops them (issue 22): the lockout page for an address that sprayed
passwords, and the re-auth page after too many Reconnects, at 1280 and 390 px in Chromium."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import LinkedAccount, User
from accounts.throttles import RECONNECT, allow_mono_action
from tests.browser.test_signin_and_admin import keep_screenshot, no_horizontal_scroll, signed_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-limits-12345"


def inside_viewport(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width and box["height"] > 0


@pytest.mark.parametrize("width", [1280, 390])
def test_a_sprayed_address_sees_that_its_network_is_paused(page, live_server, settings, width, artifacts_dir):
    User.objects.create_user("ada", password=PASSWORD)
    sprayer = Client()  # the same address as the browser: 127.0.0.1
    for n in range(settings.SIGNIN_ADDRESS_FAILURE_LIMIT):
        sprayer.post("/accounts/login/", {"username": f"someone{n}", "password": "Summer2026!"})
    page.set_viewport_size({"width": width, "height": 800})

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("heading", name="Too many sign-in attempts").wait_for()
    alert = page.get_by_role("alert")
    assert "Sign-in from your network is paused" in alert.inner_text()
    assert inside_viewport(page, ".message.error") and no_horizontal_scroll(page)
    keep_screenshot(page, artifacts_dir, f"lockout-address-{width}.png")


@pytest.mark.parametrize("width", [1280, 390])
def test_too_many_reconnects_show_the_wait_on_the_reauth_page(page, live_server, settings, width, artifacts_dir):
    settings.SITE_URL = live_server.url
    user = signed_in_as(page, live_server, User.objects.create_user("ada", password=PASSWORD))
    account = LinkedAccount.objects.create(
        user=user, mono_account_id="65f0c0ffee00000000000a01", institution_name="Access Bank", reauth_required=True
    )
    for _ in range(settings.MONO_ACTION_LIMITS[RECONNECT]["calls"]):  # five Reconnects in the last minute
        allow_mono_action(user, RECONNECT, account.pk)
    page.set_viewport_size({"width": width, "height": 800})

    page.goto(f"{live_server.url}/reconnect/")
    with page.expect_response(lambda r: "/hosted/" in r.url) as answered:
        page.get_by_role("button", name="Reconnect on Mono's page instead").click()

    assert answered.value.status == 429
    message = page.locator(".message.error")
    message.wait_for()
    assert "Too many tries" in message.inner_text() and "seconds" in message.inner_text()
    assert page.get_by_role("button", name="Reconnect Access Bank").is_visible()  # the way on, once the wait is over
    assert inside_viewport(page, ".message.error") and no_horizontal_scroll(page)
    keep_screenshot(page, artifacts_dir, f"reauth-limited-{width}.png")
