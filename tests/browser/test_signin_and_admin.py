"""Sign-in, password reset, the dashboard and the staff admin in a real browser (Debian's Chromium)."""

from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts.models import LinkedAccount, User
from monolink.mono.events import REAUTHORISATION_REQUIRED, REAUTHORIZED
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-signin-12345"
BANKS = ["GTBank", "Access Bank", "First Bank of Nigeria", "Kuda Bank"]


def keep_screenshot(page, artifacts_dir, name: str) -> None:
    """Into artifacts/; with UPDATE_SCREENSHOTS=1 also into docs/ (the README's pictures)."""
    shot = artifacts_dir / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / name)


def no_horizontal_scroll(page) -> bool:
    page.wait_for_load_state("load")  # stylesheets applied
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def signed_in_as(page, live_server, user: User) -> User:
    """The user's session cookie in the browser: the sign-in forms are tested on their own above."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return user


def signed_in_as_staff(page, live_server) -> User:
    return signed_in_as(page, live_server, User.objects.create_superuser("staff", "staff@example.com", PASSWORD))


def delivery(event, received_at, status=WebhookEvent.Status.PROCESSED, mono_account_id="", error=""):
    n = WebhookEvent.objects.count() + 1
    row = WebhookEvent.objects.create(
        event=event, mono_account_id=mono_account_id, dedupe_key=f"k{n}", body="{}", status=status, error=error
    )
    WebhookEvent.objects.filter(pk=row.pk).update(received_at=received_at)


@pytest.fixture
def busy_site(db):
    """A month of flags and reconnections across banks, with long names and errors to lay out."""
    now = timezone.now()
    users = [User.objects.create_user(f"user-{n}-with-a-long-username", email=f"u{n}@example.com") for n in range(4)]
    for n in range(24):
        flagged = n % 3 != 0
        account = LinkedAccount.objects.create(
            user=users[n % 4],
            mono_account_id=f"65f0c0ffee0000000000{n:04d}",
            institution_name=BANKS[n % 4],
            account_name=f"ADAEZE CHIOMA OKONKWO-BALOGUN SAVINGS {n}",
            account_number_masked=f"******{4000 + n}",
            currency="NGN",
            balance=359342871 + n,
            data_status="AVAILABLE" if n % 5 else "PARTIAL",
            reauth_required=flagged,
            reauth_requested_at=now - timedelta(days=n, hours=3),
            reauth_submitted_at=now if n % 7 == 1 else None,
            reauth_completed_at=None if flagged else now - timedelta(days=n),
        )
        delivery(REAUTHORISATION_REQUIRED, now - timedelta(days=n, hours=3), mono_account_id=account.mono_account_id)
        if not flagged:
            delivery(REAUTHORIZED, now - timedelta(days=n), mono_account_id=account.mono_account_id)
    for n in range(3):
        delivery(
            "mono.events.account_updated",
            now - timedelta(hours=n + 1),
            WebhookEvent.Status.FAILED,
            mono_account_id=f"65f0c0ffee0000000000{n:04d}",
            error="IntegrityError: duplicate key value violates unique constraint "
            '"accounts_linkedaccount_mono_account_id_key" DETAIL: Key (mono_account_id)=(65f0c0ffee00) already exists.'
            "\nTraceback (most recent call last): ...",
        )
    delivery("", now - timedelta(hours=2), WebhookEvent.Status.INVALID, error="Body is not JSON: Expecting value")
    return now


def test_empty_sign_in_shows_what_each_field_needs(page, live_server, db, artifacts_dir):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.get_by_text("monolink keeps your bank accounts connected").is_visible()

    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()

    # "Error:" is for screen readers only (visually hidden), as in the GOV.UK pattern.
    assert page.locator("#username-errors").inner_text().split() == ["Error:", "Enter", "your", "username"]
    assert page.locator("#password-errors").inner_text().split() == ["Error:", "Enter", "your", "password"]
    assert page.get_by_label("Username").get_attribute("aria-invalid") == "true"
    box = page.locator(".auth-card").bounding_box()
    assert abs((box["x"] + box["width"] / 2) - 640) < 20  # the card is centred
    keep_screenshot(page, artifacts_dir, "sign-in.png")


def test_wrong_password_says_so_and_keeps_the_username(page, live_server, db):
    User.objects.create_user("ada", email="ada@example.com", password=PASSWORD)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    assert "The username or password is not right" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Username").input_value() == "ada"


def test_forgotten_password_email_leads_to_a_new_password(page, live_server, settings, mailoutbox, artifacts_dir):
    settings.SITE_URL = live_server.url
    User.objects.create_user("ada", email="ada@example.com", password=PASSWORD)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Send the link").click()

    page.get_by_role("heading", name="Check your email").wait_for()
    assert no_horizontal_scroll(page)
    (email,) = mailoutbox
    link = re.search(r"http\S+", email.body).group(0)
    assert link.startswith(f"{live_server.url}/accounts/reset/")

    page.goto(link)
    page.get_by_label("New password").fill("a-new-pw-for-ada-7")
    page.get_by_label("The same password again").fill("a-new-pw-for-ada-7")
    page.get_by_role("button", name="Save the new password").click()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("a-new-pw-for-ada-7")
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("heading", name="Your bank accounts").wait_for()
    page.goto(link)  # used once: the link is dead now
    page.get_by_role("heading", name="This link no longer works").wait_for()


@pytest.mark.parametrize("width", [1280, 390])
def test_dashboard_badges_sit_by_the_title_and_the_sandbox_command_copies(page, live_server, width, artifacts_dir):
    user = User.objects.create_user("demo", email="demo@example.com", password=PASSWORD)
    ok = LinkedAccount.objects.create(
        user=user,
        mono_account_id="65f0c0ffee00000000000a01",
        institution_name="Access Bank",
        account_name="DEMO USER",
        account_number_masked="******4821",
        currency="NGN",
        balance=1234567,
        data_status="AVAILABLE",
        reauth_completed_at=timezone.now(),
    )
    LinkedAccount.objects.create(
        user=user,
        mono_account_id="65f0c0ffee00000000000a02",
        institution_name="GTBank",
        account_number_masked="******1093",
        reauth_required=True,
        reauth_requested_at=timezone.now(),
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    signed_in_as(page, live_server, user)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/")

    assert (
        page.get_by_test_id("reconnected-notice")
        .inner_text()
        .endswith("Access Bank ******4821 reconnected. Fresh data flows again.")
    )
    for card in page.locator("li.account").all():
        title, badge = card.locator(".account-title").bounding_box(), card.locator(".badge").bounding_box()
        if width >= 1280:  # on the title's line, not pushed under the sandbox hint
            assert title["y"] <= badge["y"] + badge["height"] / 2 <= title["y"] + title["height"]
        else:  # narrow: right under the title at worst, still above the facts
            assert badge["y"] < card.locator(".facts").bounding_box()["y"]
    command = page.locator(f"#break-{ok.pk}")
    assert command.evaluate("c => getComputedStyle(c).whiteSpace") == "nowrap"
    who, sign_out = page.locator(".who").bounding_box(), page.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out["x"] - (who["x"] + who["width"]) >= 8  # "demo  Sign out", not "demoSign out"
    assert no_horizontal_scroll(page)
    keep_screenshot(page, artifacts_dir, f"dashboard-{width}.png")

    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == command.inner_text()

    page.reload()
    assert page.get_by_test_id("reconnected-notice").count() == 0  # said once


def test_admin_overview_shows_counts_and_charts(page, live_server, busy_site, artifacts_dir):
    signed_in_as_staff(page, live_server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/")

    overview = page.locator("#staff-overview")
    assert overview.locator('[data-count="flagged"]').inner_text() == "16"
    assert overview.locator('[data-count="failed"]').inner_text() == "4"  # 3 failed + 1 invalid
    assert overview.locator('[data-count="median"]').inner_text() == "3 h"
    # Columns with height for days that had events; one bar per bank with flagged accounts.
    tall = overview.locator("rect.bar-flags").evaluate_all("bars => bars.filter(b => b.getBBox().height > 0).length")
    assert tall >= 10
    assert overview.locator("rect.bar-bank").count() == 4
    assert overview.locator("rect.bar-reconnections").first.evaluate("b => getComputedStyle(b).fill") != "none"
    assert no_horizontal_scroll(page)
    assert not [m for m in page.console_messages_seen if "Content Security Policy" in m or "pageerror" in m]
    # The counters on one row (6 on SQLite, 7 with the task engine on PostgreSQL).
    tops = {round(box["y"]) for box in (c.bounding_box() for c in overview.locator(".overview-counts li").all())}
    assert len(tops) == 1, tops
    # A y-axis from 0, and each day's label centred under its own columns.
    assert overview.locator('text[data-gridline="0"]').count() == 1
    for tick in overview.locator("text.tick").all():
        label, box = tick.text_content(), tick.bounding_box()
        own = [
            bar.bounding_box()
            for bar in overview.locator("rect.bar-flags, rect.bar-reconnections").all()
            if bar.locator("title").text_content().startswith(label + ":")
        ]
        middle = (own[0]["x"] + own[-1]["x"] + own[-1]["width"]) / 2
        assert abs(box["x"] + box["width"] / 2 - middle) < 3, label
    assert overview.get_by_test_id("daily-table").is_visible()  # the values, without hovering
    keep_screenshot(page, artifacts_dir, "admin-overview.png")
    page.set_viewport_size({"width": 390, "height": 844})
    assert no_horizontal_scroll(page)
    keep_screenshot(page, artifacts_dir, "admin-overview-390.png")


@pytest.mark.parametrize(
    ("path", "shot"),
    [
        ("/admin/accounts/linkedaccount/", "admin-accounts.png"),
        ("/admin/webhooks/webhookevent/", "admin-deliveries.png"),
    ],
)
def test_admin_lists_fit_1280_px_without_horizontal_scroll(page, live_server, busy_site, artifacts_dir, path, shot):
    signed_in_as_staff(page, live_server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}{path}")

    assert page.locator("#result_list tbody tr").count() > 0
    assert no_horizontal_scroll(page)
    # The last column (the error excerpt or the last delivery) is on screen, not scrolled off.
    keep_screenshot(page, artifacts_dir, shot)
    # The table's own box scrolls sideways when it does not fit: every column must be in view.
    # (1 px of slack for sub-pixel rounding)
    assert page.evaluate("(r => r.scrollWidth <= r.clientWidth + 1)(document.querySelector('#changelist .results'))")
    last_header = page.locator("#result_list thead th").last.bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert last_header["x"] + last_header["width"] <= filters["x"]  # not under the filters either


def test_account_page_reads_like_a_person_wrote_it(page, live_server, busy_site, artifacts_dir):
    signed_in_as_staff(page, live_server)
    account = LinkedAccount.objects.filter(reauth_required=True).order_by("pk").first()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/accounts/linkedaccount/{account.pk}/change/")

    text = page.locator("#content").inner_text()
    assert "₦3,593,428." in text and "359342871" not in text
    assert page.locator(".field-flag img.flag-icon").is_visible()
    assert "Account number masked" not in text and "Reauth" not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # one date format: '23 Nov 2026, 14:05'
    assert no_horizontal_scroll(page)
    keep_screenshot(page, artifacts_dir, "admin-account.png")
