"""The request line and its id: an X-Request-ID is kept only in a safe shape from a trusted proxy,
and no line carries a password-reset token from the path."""

import json

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .test_operations import log_lines  # noqa: F401 (fixture: what stdout would show)


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("5b0c9e1f2a3d4c5b6a7980a1b2c3d4e5", True),  # nginx's $request_id
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),  # a UUID
        ("Root-1.abc_DEF-09", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("proxy-id-0001\n", False),  # a line break would forge a second log line
        ("proxy-id-0001\r\nSet-Cookie: a=b", False),
        ("id/with/slashes", False),
        ("id:with=signs+1", False),
        ("short", False),
    ],
)
def test_a_request_id_from_the_trusted_proxy_is_kept_only_in_a_safe_shape(client, db, offered, kept):
    response = client.get("/healthz", REMOTE_ADDR="127.0.0.1", HTTP_X_REQUEST_ID=offered)

    assert (response["X-Request-ID"] == offered) is kept
    if not kept:
        assert len(response["X-Request-ID"]) == 32


def test_a_safe_request_id_from_anyone_else_is_replaced(client, db, settings):
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.0/8"]

    response = client.get("/healthz", REMOTE_ADDR="203.0.113.9", HTTP_X_REQUEST_ID="proxy-id-0001")

    assert response["X-Request-ID"] != "proxy-id-0001"


def test_the_password_reset_link_is_logged_by_its_pattern_never_with_its_token(client, user, log_lines):  # noqa: F811
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)

    opened = client.get(f"/accounts/reset/{uid}/{token}/")
    client.get(opened["Location"])  # Django's own redirect to the set-password form

    assert opened.status_code == 302
    lines = [line for line in log_lines() if line["logger"] == "monolink.request"]
    assert [line["path"] for line in lines] == ["/accounts/reset/<uidb64>/<token>/"] * 2
    assert token not in json.dumps(lines)
    assert uid not in json.dumps(lines)


def test_a_path_with_only_numeric_ids_is_logged_as_sent(client, db, log_lines):  # noqa: F811
    client.get("/link/attempts/42/")  # not signed in: a redirect, still resolved

    [line] = [line for line in log_lines() if line["logger"] == "monolink.request"]
    assert line["path"] == "/link/attempts/42/"
