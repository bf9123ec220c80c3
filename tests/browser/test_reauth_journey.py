"""The user's journey in a real browser: sign in while flagged, land on the re-auth page, reconnect,
and watch the page confirm by itself when Mono's webhook arrives.

Against Mono's real connect.js builds from npm (served in place of Mono's CDN; Mono's iframe is
blocked and its URL recorded), against the sandbox widget, and with the widget's script blocked
(the "Reconnect on Mono's page" fallback through the sandbox's fake hosted page). Every state is
photographed at 1280 px and 390 px into artifacts/ and checked for sideways scrolling.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from accounts.models import LinkedAccount, User
from monolink.mono import payloads
from reauth import credentials

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CDN_URL = "https://connect.withmono.com/connect.js"
PASSWORD = "pw-journey-12345"
WAITING_TEXT = "Waiting for your bank's confirmation…"


@pytest.fixture
def flagged_user(db):
    user = User.objects.create_user("tolu", email="tolu@example.com", password=PASSWORD)
    account = LinkedAccount.objects.create(
        user=user,
        mono_account_id="65f0c0ffee00000000000a00",  # a sandbox id: 24 hex characters, last byte = GTBank
        institution_name="GTBank",
        account_name="TOLU ADEBAYO",
        account_number_masked="******4821",
        currency="NGN",
        balance=1234567,
        data_status="AVAILABLE",
        reauth_required=True,
        # Fixed, so the README's screenshot does not change on every run.
        reauth_requested_at=datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
    )
    return user, account


def sign_in(page, live_server, username="tolu"):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def serve_mono_build(page, version: str) -> list[str]:
    """Serve node_modules' build for Mono's CDN URL; block Mono's iframe and record what it asked for."""
    bundle = ROOT / "node_modules" / f"connect-js-{version}" / "index.js"
    if not bundle.exists():
        pytest.fail(f"{bundle} is missing: run `npm install` (package.json pins Mono's builds).")
    frames: list[str] = []
    page.route(CDN_URL, lambda route: route.fulfill(path=str(bundle), content_type="application/javascript"))

    def block(route):
        frames.append(route.request.url)
        route.abort()

    page.route(re.compile(r"^https://connect\.mono\.co(/|\?|$)"), block)
    return frames


def use_mono_sdk(page, settings, version: str, mode: str) -> list[str]:
    """The page loads Mono's real connect.js `version` (from node_modules) in re-auth `mode`."""
    settings.MONO_CONNECT_JS_URL = CDN_URL
    settings.MONO_PUBLIC_KEY = "test_pk_journey"
    settings.MONO_REAUTH_MODE = mode  # the sandbox client mints the token in token mode
    return serve_mono_build(page, version)


def csp_script_violations(page) -> list[str]:
    # Style violations are expected: Mono's SDK sets inline styles, which our CSS replaces.
    return [m for m in page.console_messages_seen if "Content Security Policy" in m and "'script-src" in m]


WIDTHS = (1280, 390)


def shoot(page, artifacts_dir, name: str) -> None:
    """Photograph the current state at a desktop and a phone width; neither may scroll sideways."""
    original = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        page.screenshot(path=str(artifacts_dir / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(original)


def send_webhook(live_server, payload: dict) -> None:
    """Mono's webhook, through the real endpoint and secret check."""
    answer = requests.post(
        f"{live_server.url}/webhooks/mono/",
        data=json.dumps(payload),
        headers={"content-type": "application/json", "mono-webhook-secret": django_settings.MONO_WEBHOOK_SECRET},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def card(page, account):
    return page.locator(f'[data-account="{account.pk}"]')


def assert_no_contradiction(page) -> None:
    """One state per card: its text and badge never disagree (e.g. "reconnected" beside "awaiting")."""
    for item in page.locator("[data-account]").all():
        state = item.get_attribute("data-state")
        text = item.locator("[data-role=text]").inner_text()
        badge = item.locator("[data-role=badge]").inner_text()
        if state == "ok":
            assert "reconnected" in text and badge == "Reconnected", (text, badge)
        elif state == "awaiting":
            assert text == WAITING_TEXT and badge == "Waiting for your bank", (text, badge)
        elif state == "needs_reauth":
            assert "sign in again" in text and badge == "Needs reconnecting", (text, badge)


@pytest.mark.parametrize(("version", "mode"), [("2.0.2", "token"), ("2.2.0", "account")])
def test_reconnect_with_monos_real_sdk_then_the_page_confirms_by_itself(
    page, live_server, settings, flagged_user, version, mode, artifacts_dir
):
    _user, account = flagged_user
    frames = use_mono_sdk(page, settings, version, mode)

    sign_in(page, live_server)
    assert urlsplit(page.url).path == "/reconnect/"
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/"]
    assert page.evaluate("typeof window.Connect") == "function"
    account.refresh_from_db()
    assert account.reauth_token_fingerprint is None  # nothing minted ahead of need: the page never calls Mono
    assert_no_contradiction(page)
    shoot(page, artifacts_dir, f"reauth-needs-{mode}")

    page.get_by_role("button", name=re.compile("^Reconnect GTBank")).click()
    frame = page.locator("#mono-connect--frame-id")
    frame.wait_for(state="attached")
    src = frame.get_attribute("src")
    query = parse_qs(urlsplit(src).query)
    assert query["key"] == ["test_pk_journey"]
    account.refresh_from_db()
    if mode == "token":
        # Minted by the click (the credential endpoint); only its fingerprint is kept.
        assert account.reauth_token_fingerprint == credentials.token_fingerprint(query["reauth_token"][0])
        assert query["reauth_token"][0] not in account.reauth_token_fingerprint
        assert "data" not in query
    else:
        assert account.reauth_token_fingerprint is None
        assert json.loads(query["data"][0]) == {"account": account.mono_account_id}
        assert f"data={_encoded_account(account)}" in src  # url-encoded JSON, as Mono's iframe expects
        assert "reauth_token" not in query
    _wait_until(lambda: frames, "the widget never requested Mono's iframe")
    assert frames[0] == src

    # Mono's overlay covers the page even though CSP blocks the SDK's inline styles (our CSS stands in).
    # (the SDK reveals its iframe 2 s after open()).
    page.locator("#mono-connect--frame-id").wait_for(state="visible", timeout=5000)
    box = page.locator("#mono-connect--frame-id").bounding_box()
    assert box and box["width"] >= 990 and box["height"] >= 700

    # Play Mono's iframe: the SDK listens for this message and calls onSuccess({code}), then onClose.
    page.evaluate(
        "window.postMessage({type: 'mono.connect.widget.account_linked', data: {code: 'code_from_mono'}}, '*')"
    )
    item = card(page, account)
    item.locator("[data-role=text]").get_by_text(WAITING_TEXT).wait_for()
    status = page.locator("#widget-status")
    assert "closed before" not in status.inner_text()
    assert page.evaluate("document.activeElement.dataset.role") == "text"  # focus not lost with the button
    assert page.evaluate("document.activeElement.closest('[data-account]').id") == f"account-{account.pk}"
    assert status.inner_text() == ""  # one message: the card's, not a second copy above it
    assert page.get_by_test_id("not-now").inner_text() == "Continue"  # nothing left for the user to do
    assert page.get_by_role("heading", level=1).inner_text() == "Almost done"
    assert_no_contradiction(page)
    account.refresh_from_db()
    assert account.state == LinkedAccount.State.AWAITING
    shoot(page, artifacts_dir, f"reauth-awaiting-{mode}")

    # Mono confirms: the page shows it without a reload, then continues to `next` by itself.
    send_webhook(live_server, payloads.account_reauthorized(account.mono_account_id))
    item.locator("[data-role=text]").get_by_text("GTBank reconnected").wait_for()
    assert item.get_attribute("data-state") == "ok"
    assert page.get_by_role("heading", level=1).inner_text() == "Reconnected"
    assert page.locator("[data-role=auto-continue]").is_visible()
    assert_no_contradiction(page)
    shoot(page, artifacts_dir, f"reauth-confirmed-{mode}")
    assert not csp_script_violations(page), page.console_messages_seen
    if mode == "token":
        page.get_by_role("button", name="Stay here").click()
        assert page.locator("[data-role=auto-continue]").is_hidden()
        time.sleep(1.5)
        assert urlsplit(page.url).path == "/reconnect/"
    else:
        page.wait_for_url(f"{live_server.url}/", timeout=8000)  # `next`, after the few seconds


def _encoded_account(account) -> str:
    from urllib.parse import quote_plus

    return quote_plus(json.dumps({"account": account.mono_account_id}, separators=(",", ":")))


def _wait_until(condition, message: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(message)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (None, "You closed the window before finishing. Nothing was changed."),
        (
            {"type": "mono.connect.error_occured", "data": {"errorType": "X", "errorMessage": "Bank timed out"}},
            "Reconnecting didn't finish: Bank timed out. Nothing was changed.",
        ),
        (
            {
                "type": "mono.connect.error_occured",
                "data": {"errorType": "AUTHENTICATION_ERROR", "errorMessage": "Invalid OTP."},
            },
            "Your bank didn't accept the details entered, so nothing was changed. You can try again.",
        ),
    ],
)
def test_closing_the_widget_gives_one_calm_message_and_focus_back_on_reconnect(
    page, live_server, settings, flagged_user, message, expected
):
    _user, account = flagged_user
    use_mono_sdk(page, settings, "2.2.0", "account")
    sign_in(page, live_server)
    page.get_by_role("button", name=re.compile("^Reconnect GTBank")).click()
    page.locator("#mono-connect--frame-id").wait_for(state="attached")
    busy = card(page, account).locator("[data-role=reconnect]")
    assert busy.is_disabled() and busy.inner_text().startswith("Reconnecting…")  # busy, and looks it
    assert float(busy.evaluate("b => getComputedStyle(b).opacity")) < 1
    status = page.locator("#widget-status")
    if message:
        page.evaluate("m => window.postMessage(m, '*')", message)
        time.sleep(0.2)
        assert "Nothing was changed" not in status.inner_text()  # Mono shows it in its window, not behind it
    # The user then closes Mono's window (an error keeps it open, with Mono's own explanation).
    page.evaluate("window.postMessage({type: 'mono.connect.widget.closed'}, '*')")
    status.get_by_text(expected, exact=False).wait_for()
    assert status.inner_text().count("Nothing was changed") + status.inner_text().count("nothing was changed") == 1
    assert card(page, account).get_attribute("data-state") == "needs_reauth"  # the card is back, usable
    assert "error" not in status.get_attribute("class")  # the user's choice, not shown as a fault
    assert status.get_by_role("button").count() == 0  # no second "Try again": Reconnect is right there
    assert page.evaluate("document.activeElement.dataset.role") == "reconnect"  # focus back where it was
    assert page.get_by_role("button", name=re.compile("^Reconnect GTBank")).is_enabled()
    account.refresh_from_db()
    assert account.reauth_submitted_at is None
    page.keyboard.press("Enter")  # opens the widget again, and the old message goes
    status.get_by_text("Opening the secure window").wait_for()
    assert expected not in status.inner_text()
    assert busy.is_disabled()


def test_token_click_with_mono_down_says_so_and_try_again_mints_again(page, live_server, settings, flagged_user):
    _user, account = flagged_user
    use_mono_sdk(page, settings, "2.0.2", "token")
    sign_in(page, live_server)
    calls = []

    def mono_down_once(route):
        calls.append(route.request.method)
        if len(calls) == 1:
            route.fulfill(
                status=502, json={"status": "error", "message": "We couldn't reach your bank's connection service."}
            )
        else:
            route.continue_()

    page.route(re.compile(r"/reconnect/\d+/credential/$"), mono_down_once)
    page.get_by_role("button", name=re.compile("^Reconnect GTBank")).click()
    status = page.locator("#widget-status")
    status.get_by_text("We couldn't reach your bank").wait_for()
    assert card(page, account).get_attribute("data-state") == "needs_reauth"
    status.get_by_role("button", name="Try again").click()
    page.locator("#mono-connect--frame-id").wait_for(state="attached")
    assert calls == ["POST", "POST"]  # each click mints afresh


def test_widget_script_blocked_offers_monos_page_which_completes_and_the_page_confirms(
    page, live_server, settings, flagged_user, artifacts_dir
):
    settings.MONO_CONNECT_JS_URL = CDN_URL
    settings.MONO_REAUTH_MODE = "account"
    settings.SITE_URL = live_server.url  # the sandbox's hosted page and Mono's return address
    _user, account = flagged_user
    page.route(CDN_URL, lambda route: route.abort())  # an ad blocker, a corporate proxy
    sign_in(page, live_server)

    page.get_by_text("can't load in this browser").wait_for()
    assert page.get_by_role("button", name=re.compile("^Reconnect GTBank")).is_hidden()
    hosted = page.get_by_role("button", name=re.compile("^Reconnect on Mono's page"))
    assert hosted.is_visible() and "primary" in hosted.get_attribute("class")  # prominent now
    shoot(page, artifacts_dir, "reauth-widget-blocked")

    hosted.click()
    page.wait_for_url(re.compile(r"/sandbox/hosted/"))
    page.get_by_text("Mono's hosted page (fake)").wait_for()
    assert page.get_by_text("use any username and password").is_visible()
    shoot(page, artifacts_dir, "sandbox-hosted-credentials")
    page.get_by_label("Username").fill("tolu")
    page.get_by_label("Password").fill("anything")
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("One-time code").fill("000000")
    page.get_by_role("button", name="Submit code").click()
    page.get_by_text("That code is wrong").wait_for()
    assert page.get_by_text("username and password").count() == 0  # the OTP step's own copy
    shoot(page, artifacts_dir, "sandbox-hosted-otp-wrong")
    page.get_by_label("One-time code").fill("123456")
    page.get_by_role("button", name="Submit code").click()

    # Back on our page: waiting, then confirmed by the webhooks the fake hosted page delivered.
    page.wait_for_url(re.compile(rf"/reconnect/{account.pk}/returned/"))
    item = card(page, account)
    item.locator("[data-role=text]").get_by_text(
        re.compile("Waiting for your bank's confirmation|GTBank reconnected")
    ).wait_for()
    item.locator("[data-role=text]").get_by_text("GTBank reconnected").wait_for(timeout=10_000)
    account.refresh_from_db()
    assert not account.reauth_required and account.reauth_completed_at is not None
    assert_no_contradiction(page)
    shoot(page, artifacts_dir, "reauth-hosted-confirmed")
    assert not csp_script_violations(page), page.console_messages_seen


def test_back_from_monos_page_waits_until_the_webhook_then_confirms(
    page, live_server, settings, flagged_user, artifacts_dir
):
    _user, account = flagged_user
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/reconnect/{account.pk}/returned/")
    item = card(page, account)
    item.locator("[data-role=text]").get_by_text(WAITING_TEXT).wait_for()
    assert_no_contradiction(page)
    shoot(page, artifacts_dir, "reauth-returned-waiting")
    time.sleep(2.5)  # a poll or two: still waiting, no webhook yet
    assert item.get_attribute("data-state") == "awaiting"
    send_webhook(live_server, payloads.account_reauthorized(account.mono_account_id))
    item.locator("[data-role=text]").get_by_text("GTBank reconnected").wait_for()


def test_v1_mode_hides_monos_page_even_when_the_widget_cannot_load(page, live_server, settings, flagged_user):
    settings.MONO_CONNECT_JS_URL = CDN_URL
    settings.MONO_API_VERSION = "v1"
    page.route(CDN_URL, lambda route: route.abort())
    sign_in(page, live_server)
    page.get_by_text("can't load in this browser").wait_for()
    assert page.get_by_text("Mono's page").count() == 0
    assert page.get_by_text("then reload this page").is_visible()


@pytest.mark.parametrize("mode", ["token", "account"])
def test_reconnect_and_link_with_the_sandbox_widget(page, live_server, settings, flagged_user, mode, artifacts_dir):
    settings.MONO_REAUTH_MODE = mode
    settings.SITE_URL = live_server.url
    assert settings.MONO_CONNECT_JS_URL == "/static/sandbox/connect.js"
    # The sandbox delivers its webhooks to the configured site, never to the request's Host.
    settings.SITE_URL = live_server.url
    user, account = flagged_user

    sign_in(page, live_server)
    assert urlsplit(page.url).path == "/reconnect/"
    page.get_by_role("heading", name="Reconnect your bank").wait_for()
    if mode == "account":
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(artifacts_dir / "reauth-page.png"), full_page=True)
        # The README's copy is refreshed on request only, so a test run leaves the tree clean.
        docs_copy = ROOT / "docs" / "reauth-page.png"
        if os.environ.get("UPDATE_SCREENSHOTS") or not docs_copy.exists():
            docs_copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(artifacts_dir / "reauth-page.png", docs_copy)

    page.get_by_role("button", name=re.compile("^Reconnect GTBank")).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert "use any username and password" in dialog.inner_text()
    dialog.get_by_label("Username (any)").fill("tolu")
    dialog.get_by_label("Password (any)").fill("anything")
    dialog.get_by_role("button", name="Log in").click()
    dialog.get_by_label(re.compile("One-time code")).fill("000000")
    dialog.get_by_role("button", name="Submit code").click()
    dialog.get_by_text("That code is wrong").wait_for()
    assert "username and password" not in dialog.inner_text()  # the OTP step says the OTP step's rules
    status = page.locator("#widget-status")
    assert status.inner_text().strip() in ("", "Mono's secure window is open. Follow the steps there.")
    if mode == "account":
        shoot(page, artifacts_dir, "reauth-sandbox-dialog-wrong-code")
    dialog.get_by_label(re.compile("One-time code")).fill("123456")
    dialog.get_by_role("button", name="Submit code").click()

    # The sandbox delivers account_reauthorized through the real webhook endpoint: the page confirms.
    card(page, account).locator("[data-role=text]").get_by_text("GTBank reconnected").wait_for(timeout=10_000)
    account.refresh_from_db()
    assert not account.reauth_required and account.reauth_completed_at is not None

    # Link a new sandbox bank from the dashboard.
    page.get_by_test_id("not-now").click()
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("button", name="Link a bank account").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name=re.compile("Zenith Bank")).click()
    dialog.get_by_label("Username (any)").fill("tolu")
    dialog.get_by_label("Password (any)").fill("anything")
    dialog.get_by_role("button", name="Log in").click()
    dialog.get_by_label(re.compile("One-time code")).fill("654321")
    dialog.get_by_role("button", name="Submit code").click()
    page.get_by_text(re.compile(r"Linked Zenith Bank")).wait_for()
    linked = LinkedAccount.objects.for_user(user).exclude(pk=account.pk).get()
    assert linked.institution_name == "Zenith Bank"
    assert page.locator(".account").count() == 2
    page.get_by_text("Zenith Bank", exact=False).first.wait_for()
    if mode == "account":
        page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)
    assert not csp_script_violations(page), page.console_messages_seen


def test_all_ok_page_says_so(page, live_server, flagged_user, artifacts_dir):
    _user, account = flagged_user
    LinkedAccount.objects.filter(pk=account.pk).update(reauth_required=False)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/reconnect/")
    page.get_by_role("heading", name="Your bank connections are working").wait_for()
    assert page.get_by_test_id("not-now").inner_text() == "Continue"
    shoot(page, artifacts_dir, "reauth-all-ok")


def test_pages_fit_a_phone_screen(chromium, live_server, flagged_user, artifacts_dir):
    context = chromium.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        for path in ("/reconnect/", "/"):
            page.goto(f"{live_server.url}{path}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        page.goto(f"{live_server.url}/reconnect/")
        page.screenshot(path=str(artifacts_dir / "reauth-page-phone.png"), full_page=True)
    finally:
        context.close()
