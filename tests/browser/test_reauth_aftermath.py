"""After Mono's window: back from Mono's hosted page, and the whole journey by keyboard alone
(sign in, Reconnect, the sandbox widget, continue) in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from accounts.models import LinkedAccount, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CDN_URL = "https://connect.withmono.com/connect.js"
PASSWORD = "pw-keyboard-12345"


@pytest.fixture
def flagged(db):
    user = User.objects.create_user("tolu", email="tolu@example.com", password=PASSWORD)
    account = LinkedAccount.objects.create(
        user=user,
        mono_account_id="65f0c0ffee00000000000a00",  # a sandbox id: last byte = GTBank
        institution_name="GTBank",
        account_number_masked="******4821",
        reauth_required=True,
        reauth_requested_at=datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
    )
    return user, account


def sign_in_by_keyboard(page, live_server, lands_on: str = "/reconnect/") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.evaluate("document.activeElement.id") == "id_username"  # autofocus
    page.keyboard.type("tolu")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("^" + re.escape(live_server.url + lands_on) + r"(\?|$)"))


def tab_to(page, predicate: str, most: int = 25) -> None:
    """Press Tab until the focused element satisfies the JS `predicate(el)`."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {predicate})(document.activeElement)"):
            return
    pytest.fail(f"Tab never reached an element where {predicate}")


@pytest.mark.parametrize("width", [1280, 390])
def test_keyboard_only_journey_signs_in_reconnects_and_continues(page, live_server, settings, flagged, width):
    settings.SITE_URL = live_server.url  # the sandbox delivers its webhook here
    settings.MONO_REAUTH_MODE = "account"
    _user, account = flagged
    page.set_viewport_size({"width": width, "height": 844})
    sign_in_by_keyboard(page, live_server)

    tab_to(page, "el.dataset.role === 'reconnect'")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.closest('[role=dialog]') !== null")  # focus moved into it
    page.keyboard.type("tolu")
    page.keyboard.press("Tab")
    page.keyboard.type("anything")
    page.keyboard.press("Enter")
    dialog.get_by_label(re.compile("One-time code")).wait_for()
    page.keyboard.type("123456")
    page.keyboard.press("Enter")

    page.locator(f'[data-account="{account.pk}"][data-state="ok"]').wait_for(timeout=10_000)
    tab_to(page, "el.dataset.testid === 'not-now' || el.dataset.action === 'stay'")
    if page.evaluate("document.activeElement.dataset.action") == "stay":
        page.keyboard.press("Enter")  # "Stay here" stops the countdown, focus goes to Continue
        assert page.evaluate("document.activeElement.dataset.testid") == "not-now"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("heading", name="Your bank accounts").wait_for()


@pytest.mark.parametrize("width", [1280, 390])
def test_back_from_monos_page_already_confirmed_continues_by_itself(page, live_server, flagged, width):
    _user, account = flagged
    LinkedAccount.objects.filter(pk=account.pk).update(reauth_required=False, reauth_completed_at=timezone.now())
    page.set_viewport_size({"width": width, "height": 844})
    sign_in_by_keyboard(page, live_server, lands_on="/")  # nothing flagged: to the dashboard
    page.goto(f"{live_server.url}/reconnect/{account.pk}/returned/")

    page.get_by_role("heading", name="Reconnected", exact=True).wait_for()
    assert page.locator("[data-role=auto-continue]").is_visible()
    page.wait_for_url(f"{live_server.url}/", timeout=10_000)


def test_back_from_monos_page_no_longer_says_the_window_cannot_load(page, live_server, settings, flagged):
    settings.MONO_CONNECT_JS_URL = CDN_URL
    page.route(CDN_URL, lambda route: route.abort())  # what sent the user to Mono's page in the first place
    _user, account = flagged
    sign_in_by_keyboard(page, live_server)
    page.get_by_text("can't load in this browser").wait_for()  # before: the reason to use Mono's page
    LinkedAccount.objects.filter(pk=account.pk).update(reauth_submitted_at=timezone.now())

    page.goto(f"{live_server.url}/reconnect/{account.pk}/returned/")
    page.locator(f'[data-account="{account.pk}"][data-state="awaiting"]').wait_for()
    page.wait_for_load_state("load")
    assert page.get_by_text("can't load in this browser").is_hidden()
