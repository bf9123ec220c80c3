"""The user's journey in a real browser: sign in while flagged, land on the re-auth page, reconnect.

Against Mono's real connect.js builds from npm (served in place of Mono's CDN; Mono's iframe is
blocked and its URL recorded) and against the sandbox widget, which runs the whole flow offline.
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

from accounts.models import LinkedAccount, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CDN_URL = "https://connect.withmono.com/connect.js"
PASSWORD = "pw-journey-12345"
SUCCESS_TEXT = "Reconnected, waiting for confirmation from your bank."


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


def csp_script_violations(page) -> list[str]:
    # Style violations are expected: Mono's SDK sets inline styles, which our CSS replaces.
    return [m for m in page.console_messages_seen if "Content Security Policy" in m and "'script-src" in m]


@pytest.mark.parametrize(
    ("version", "mode"),
    [("2.0.2", "token"), ("2.2.0", "account")],
)
def test_reconnect_with_monos_real_sdk(page, live_server, settings, flagged_user, version, mode, artifacts_dir):
    settings.MONO_CONNECT_JS_URL = CDN_URL
    settings.MONO_PUBLIC_KEY = "test_pk_journey"
    settings.MONO_REAUTH_MODE = mode  # the sandbox client mints the token in token mode
    _user, account = flagged_user
    frames = serve_mono_build(page, version)

    sign_in(page, live_server)
    assert urlsplit(page.url).path == "/reconnect/"
    assert parse_qs(urlsplit(page.url).query)["next"] == ["/"]
    assert page.evaluate("typeof window.Connect") == "function"

    page.get_by_role("button", name=re.compile("Reconnect")).click()
    frame = page.locator("#mono-connect--frame-id")
    frame.wait_for(state="attached")
    src = frame.get_attribute("src")
    query = parse_qs(urlsplit(src).query)
    assert query["key"] == ["test_pk_journey"]
    account.refresh_from_db()
    if mode == "token":
        assert account.reauth_code, "the page should have minted a token"
        assert query["reauth_token"] == [account.reauth_code]
        assert "data" not in query
    else:
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
    status = page.locator("#widget-status")
    status.get_by_text(SUCCESS_TEXT).wait_for()
    assert "closed before you finished" not in status.inner_text()
    assert page.evaluate("document.activeElement.id") == "widget-status"  # focus not lost with the button
    account.refresh_from_db()
    assert account.reauth_submitted_at is not None
    assert account.state == LinkedAccount.State.AWAITING
    assert not csp_script_violations(page), page.console_messages_seen

    # The grace period: the next sign-in goes to the dashboard, which shows "awaiting".
    page.context.clear_cookies()
    sign_in(page, live_server)
    assert urlsplit(page.url).path == "/"
    assert page.locator(".badge-awaiting").count() == 1


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
        ({"type": "mono.connect.widget.closed"}, "closed before you finished"),
        (
            {"type": "mono.connect.error_occured", "data": {"errorType": "X", "errorMessage": "Bank timed out"}},
            "reported a problem: Bank timed out",
        ),
    ],
)
def test_closing_or_an_error_in_the_widget_says_so_and_offers_a_retry(
    page, live_server, settings, flagged_user, message, expected
):
    settings.MONO_CONNECT_JS_URL = CDN_URL
    settings.MONO_PUBLIC_KEY = "test_pk_journey"
    settings.MONO_REAUTH_MODE = "account"
    _user, account = flagged_user
    serve_mono_build(page, "2.2.0")
    sign_in(page, live_server)
    page.get_by_role("button", name=re.compile("Reconnect")).click()
    page.locator("#mono-connect--frame-id").wait_for(state="attached")
    page.evaluate("m => window.postMessage(m, '*')", message)
    # The user then closes Mono's window (an error keeps it open, with Mono's own explanation).
    page.evaluate("window.postMessage({type: 'mono.connect.widget.closed'}, '*')")
    status = page.locator("#widget-status")
    status.get_by_text(expected).wait_for()
    retry = status.get_by_role("button", name="Try again")
    assert retry.is_visible()
    account.refresh_from_db()
    assert account.reauth_submitted_at is None
    retry.click()  # opens the widget again
    page.locator("#widget-status").get_by_text("Opening your bank").wait_for()


def test_sdk_that_failed_to_load_gives_a_clear_message(page, live_server, settings, flagged_user):
    settings.MONO_CONNECT_JS_URL = CDN_URL
    settings.MONO_REAUTH_MODE = "account"
    page.route(CDN_URL, lambda route: route.abort())
    sign_in(page, live_server)
    page.get_by_role("button", name=re.compile("Reconnect")).click()
    page.locator("#widget-status").get_by_text("could not be loaded").wait_for()


@pytest.mark.parametrize("mode", ["token", "account"])
def test_reconnect_and_link_with_the_sandbox_widget(page, live_server, settings, flagged_user, mode, artifacts_dir):
    settings.MONO_REAUTH_MODE = mode
    assert settings.MONO_CONNECT_JS_URL == "/static/sandbox/connect.js"
    # The sandbox delivers its webhooks to the configured site, never to the request's Host.
    settings.SITE_URL = live_server.url
    user, account = flagged_user

    sign_in(page, live_server)
    assert urlsplit(page.url).path == "/reconnect/"
    page.get_by_role("heading", name="Reconnect your bank").wait_for()
    if mode == "account":
        page.screenshot(path=str(artifacts_dir / "reauth-page.png"), full_page=True)
        # The README's copy is refreshed on request only, so a test run leaves the tree clean.
        docs_copy = ROOT / "docs" / "reauth-page.png"
        if os.environ.get("UPDATE_SCREENSHOTS") or not docs_copy.exists():
            docs_copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(artifacts_dir / "reauth-page.png", docs_copy)

    page.get_by_role("button", name=re.compile("Reconnect")).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_label("Username (any)").fill("tolu")
    dialog.get_by_label("Password (any)").fill("anything")
    dialog.get_by_role("button", name="Log in").click()
    dialog.get_by_label(re.compile("One-time code")).fill("123456")
    if mode == "account":
        page.screenshot(path=str(artifacts_dir / f"reauth-sandbox-dialog-{mode}.png"))
    dialog.get_by_role("button", name="Submit code").click()
    page.locator("#widget-status").get_by_text(re.compile("Reconnected")).wait_for()

    # The sandbox delivers account_reauthorized through the real webhook endpoint: the flag clears.
    def cleared():
        account.refresh_from_db()
        return not account.reauth_required

    _wait_until(cleared, "account_reauthorized from the sandbox never cleared the flag", timeout=10)
    assert account.reauth_completed_at is not None

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
