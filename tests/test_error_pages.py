"""Error pages with DEBUG off: the site's look, plain words, a way back and the support address, never
Django's bare "Not Found" or its CSRF debug sentence."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

STYLESHEET = "css/monolink.css"


@pytest.fixture
def faulty_site(settings):
    settings.ROOT_URLCONF = "tests.urls_with_faults"
    settings.SUPPORT_EMAIL = "help@bank.example"


def assert_site_error_page(response, status: int, heading: str) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert STYLESHEET in page and f"<h1>{heading}</h1>" in page
    assert f'href="{reverse("web:dashboard")}"' in page  # a way back
    assert 'href="mailto:help@bank.example"' in page
    return page


def test_a_missing_page_is_the_sites_404(client, db, faulty_site):
    page = assert_site_error_page(client.get("/no-such-page/"), 404, "Page not found")
    assert "The requested resource was not found" not in page


def test_a_missing_page_keeps_the_signed_in_header(signed_in, faulty_site):
    page = assert_site_error_page(signed_in.get("/no-such-page/"), 404, "Page not found")
    assert "Sign out" in page


def test_a_forbidden_page_is_the_sites_403(client, db, faulty_site):
    assert_site_error_page(client.get("/forbidden/"), 403, "You can't open this page")


def test_a_failed_csrf_check_says_the_form_expired_and_changes_nothing(user, faulty_site):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "ada", "password": "pw-ada-12345"})

    page = assert_site_error_page(response, 403, "This form has expired")
    assert "CSRF verification failed" not in page and "Start again" in page
    assert "_auth_user_id" not in client.session
    assert "csrftoken" in response.cookies  # a fresh token: filling the form in again works


def test_a_fault_is_the_sites_500_without_details(db, faulty_site):
    client = Client(raise_request_exception=False)
    page = assert_site_error_page(client.get("/fault/"), 500, "Something went wrong on our side")
    assert "a bug in a view" not in page and "Traceback" not in page
