"""What users see, measured in Chromium at 1280 and 390 px: the re-auth card's geometry, and axe-core
on every user page (no serious or critical violation)."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts.models import LinkedAccount, User

from .accessibility import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-a11y-12345"


@pytest.fixture
def flagged(db):
    user = User.objects.create_user("kemi", email="kemi@example.com", password=PASSWORD)
    for n, (bank, flagged) in enumerate([("GTBank", True), ("First Bank of Nigeria", True), ("Kuda Bank", False)]):
        LinkedAccount.objects.create(
            user=user,
            mono_account_id=f"65f0c0ffee00000000000b{n:02d}",
            institution_name=bank,
            account_name="KEMI ADEYEMI",
            account_number_masked=f"******48{n}1",
            currency="NGN",
            balance=1234567,
            data_status="AVAILABLE",
            reauth_required=flagged,
            reauth_requested_at=timezone.now() if flagged else None,
            details_as_of=timezone.now(),
        )
    return user


def signed_in_as(page, live_server, user: User) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def _middle(box) -> float:
    return box["y"] + box["height"] / 2


def test_reauth_card_is_one_row_at_1280_and_stacked_inside_the_screen_at_390(page, live_server, flagged, artifacts_dir):
    signed_in_as(page, live_server, flagged)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/reconnect/")
    cards = page.locator("li.reauth-card").all()
    assert len(cards) == 2
    for card in cards:
        mark = card.locator(".bank-mark").bounding_box()
        text = card.locator(".account-main").bounding_box()
        button = card.locator("[data-role=reconnect]").bounding_box()
        box = card.bounding_box()
        # One row: mark, then name, number and state, then the button, all across the card's middle line.
        assert mark["x"] + mark["width"] <= text["x"] and text["x"] + text["width"] <= button["x"]
        for part in (mark, text, button):
            assert part["y"] < _middle(box) < part["y"] + part["height"], (part, box)
        assert button["x"] + button["width"] <= box["x"] + box["width"]

    page.set_viewport_size({"width": 390, "height": 844})
    for card in cards:
        title = card.locator(".account-title").bounding_box()
        button = card.locator("[data-role=reconnect]").bounding_box()
        assert button["y"] >= title["y"] + title["height"]  # stacked under the text
        assert button["x"] >= 0 and button["x"] + button["width"] <= 390  # inside the screen
        assert button["width"] >= 200  # a full-width button, not a squeezed one
    page.screenshot(path=str(artifacts_dir / "reauth-cards-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(artifacts_dir / "reauth-cards-1280.png"), full_page=True)


def test_user_pages_have_no_serious_accessibility_violations(page, live_server, flagged):
    # Signed out: sign-in (empty, then wrong), "Forgot password?", a dead reset link, a missing page.
    page.goto(f"{live_server.url}/accounts/login/")
    assert_accessible(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert_accessible(page)
    page.get_by_label("Username").fill("kemi")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert_accessible(page)
    for path in (
        "/accounts/password-reset/",
        "/accounts/password-reset/sent/",
        "/accounts/reset/MQ/x-y/",
        "/no-such-page/",
    ):
        page.goto(f"{live_server.url}{path}")
        assert_accessible(page)

    # Signed in: the re-auth page with work to do, the dashboard with its banner, nothing left to do.
    signed_in_as(page, live_server, flagged)
    for path in ("/reconnect/", "/"):
        page.goto(f"{live_server.url}{path}")
        assert_accessible(page)
    LinkedAccount.objects.filter(user=flagged).update(reauth_required=False, reauth_completed_at=timezone.now())
    for path in ("/reconnect/", "/"):
        page.goto(f"{live_server.url}{path}")
        assert_accessible(page)


def test_locked_out_page_has_no_serious_accessibility_violations(page, live_server, flagged):
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("kemi")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    page.get_by_role("heading", name="Too many sign-in attempts").wait_for()
    assert_accessible(page)


def test_sign_in_error_summary_takes_focus_and_leads_to_the_field(page, live_server, flagged, artifacts_dir):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("kemi")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()

    assert page.title().startswith("Error: ")
    assert page.evaluate("document.activeElement.dataset.testid") == "error-summary"
    summary, form = page.get_by_test_id("error-summary").bounding_box(), page.locator("form.auth-card").bounding_box()
    assert summary["y"] - form["y"] < 40  # at the top of the form, above the heading
    page.get_by_role("link", name="Enter your password").click()
    assert page.evaluate("document.activeElement.id") == "id_password"
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844})
        page.screenshot(path=str(artifacts_dir / f"sign-in-error-{width}.png"), full_page=True)


def test_error_pages_look_like_the_site_and_lead_back(page, live_server, flagged, artifacts_dir):
    page.goto(f"{live_server.url}/no-such-page/")
    page.get_by_role("heading", name="Page not found").wait_for()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844})
        card = page.locator(".auth-card").bounding_box()
        assert card["x"] >= 0 and card["x"] + card["width"] <= width  # styled: a card inside the screen
        page.screenshot(path=str(artifacts_dir / f"error-404-{width}.png"), full_page=True)
    page.get_by_role("link", name="Go to your bank accounts").click()
    page.get_by_role("heading", name="Sign in").wait_for()  # the way back, through sign-in

    # A form whose CSRF cookie is gone (blocked, or expired with the session): the site's 403.
    page.context.clear_cookies()
    page.get_by_label("Username").fill("kemi")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="This form has expired").wait_for()
    assert_accessible(page)
    page.screenshot(path=str(artifacts_dir / "error-csrf-390.png"), full_page=True)
    page.get_by_role("link", name="Start again").click()
    page.get_by_label("Username").fill("kemi")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Reconnect your bank").wait_for()  # filled in again, it works


@pytest.mark.parametrize("width", [1280, 390])
def test_dashboard_banner_lines_up_and_links_share_one_colour(page, live_server, flagged, width, artifacts_dir):
    signed_in_as(page, live_server, flagged)
    page.set_viewport_size({"width": width, "height": 844})
    page.goto(f"{live_server.url}/")

    banner = page.get_by_test_id("reauth-banner").locator("p").bounding_box()
    heading = page.get_by_role("heading", name="Your bank accounts").bounding_box()
    assert abs(banner["x"] - heading["x"]) <= 1  # the banner's text starts where the content does
    links = "[...document.querySelectorAll('main a:not(.button), button.link')].map(a => getComputedStyle(a).color)"
    colours = page.evaluate(links)
    page.goto(f"{live_server.url}/no-such-page/")  # the support address, a plain link
    colours += page.evaluate(links)
    page.goto(f"{live_server.url}/")
    assert len(colours) >= 2 and len(set(colours)) == 1, colours
    titles = [t.inner_text() for t in page.locator("li.account .account-title").all()]
    assert titles[0].startswith("First Bank of Nigeria") and titles[-1].startswith("Kuda Bank")  # flagged first
    page.screenshot(path=str(artifacts_dir / f"dashboard-flagged-{width}.png"), full_page=True)
