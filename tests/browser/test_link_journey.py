"""Linking a bank in a real browser while Mono is slow: the sandbox widget, a real HTTP Mono that
does not answer the page in time, a real worker that links the kept code once Mono answers.

The slow-Mono journey is PostgreSQL only: its background half needs Procrastinate's real worker
(in-process tasks have no clock to retry with).
"""

from __future__ import annotations

import re

import pytest

from accounts.models import LinkAttempt, LinkedAccount, User
from tests.workers_support import start_worker_against

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-linker-12345"


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("kemi")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def link_zenith(page):
    page.get_by_role("button", name="Link a bank account").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name=re.compile("Zenith Bank")).click()  # the widget's INSTITUTION_SELECTED
    dialog.get_by_label("Username (any)").fill("kemi")
    dialog.get_by_label("Password (any)").fill("anything")
    dialog.get_by_role("button", name="Log in").click()
    dialog.get_by_label(re.compile("One-time code")).fill("654321")
    dialog.get_by_role("button", name="Submit code").click()


@pytest.mark.postgres
def test_a_slow_mono_shows_linking_then_the_account_without_a_reload(
    page,
    live_server,
    settings,
    stub_mono,
    workers,
    smtp_sink,
    artifacts_dir,
):
    settings.TASKS_BACKEND = "procrastinate"
    settings.MONO_REQUEST_DEADLINE = 1
    stub_mono.plans["exchange"] = ["hang"]  # the page's own try meets silence
    User.objects.create_user("kemi", email="kemi@example.com", password=PASSWORD)
    page.set_viewport_size({"width": 1280, "height": 800})

    sign_in(page, live_server)
    link_zenith(page)

    pending = page.locator(".link-attempt.link-pending")
    pending.get_by_text("Linking Zenith Bank…").wait_for()
    assert LinkAttempt.objects.get().status == "pending"
    page.screenshot(path=str(artifacts_dir / "dashboard-linking.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts_dir / "dashboard-linking-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Mono answers again; a worker takes the kept code. The dashboard notices on its own.
    start_worker_against(stub_mono, workers, smtp_sink)
    page.locator(".account").get_by_text("Zenith Bank").wait_for(timeout=30_000)
    assert page.locator(".link-attempt").count() == 0
    account = LinkedAccount.objects.get()
    assert account.institution_name == "Zenith Bank"
    assert stub_mono.count("exchange") == 2  # the page's unanswered try, then the worker's
    page.screenshot(path=str(artifacts_dir / "dashboard-linked-after-wait.png"), full_page=True)


def test_a_refused_code_shows_a_clear_failure_and_try_again_opens_the_widget(
    page, live_server, stub_mono, artifacts_dir
):
    stub_mono.plans["exchange"] = ["400"]
    User.objects.create_user("kemi", email="kemi@example.com", password=PASSWORD)

    sign_in(page, live_server)
    link_zenith(page)

    status = page.locator("#widget-status")
    status.get_by_text(re.compile(r"Couldn't link Zenith Bank\. Mono refused the link")).wait_for()
    assert LinkAttempt.objects.get().status == "failed"
    status.get_by_role("button", name="Try again").click()
    page.get_by_role("dialog").get_by_role("button", name=re.compile("Zenith Bank")).wait_for()

    page.reload()  # later visits keep saying it, with the same way out
    failure = page.locator(".link-attempt.link-failed")
    failure.get_by_text(re.compile(r"Couldn't link Zenith Bank\.")).wait_for()
    page.set_viewport_size({"width": 390, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts_dir / "dashboard-link-failed-phone.png"), full_page=True)
    failure.get_by_role("button", name="Try again").click()
    page.get_by_role("dialog").get_by_role("button", name=re.compile("Zenith Bank")).wait_for()
    assert not LinkedAccount.objects.exists()
    assert stub_mono.count("exchange") == 1
