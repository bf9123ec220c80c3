"""The OpenAPI schema is generated from the code (drf-spectacular) without a warning or an error, and
docs/openapi.yaml is that schema: a change to the API that is not in the committed copy fails here.
Refresh it with: python manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml"""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command

from tests.test_api_auth import assert_problem

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


def test_the_generated_schema_is_clean_valid_and_the_committed_one(tmp_path, db):
    generated = tmp_path / "openapi.yaml"

    # --fail-on-warn raises on any warning or error; --validate checks it against the OpenAPI 3 spec.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(generated))

    assert generated.read_text() == COMMITTED.read_text(), "docs/openapi.yaml is stale: regenerate it"


def test_the_schema_describes_every_api_route_and_only_those():
    schema = yaml.safe_load(COMMITTED.read_text())

    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    assert {"/api/v1/accounts/", "/api/v1/auth/sign-in/", "/api/v1/links/"} <= set(schema["paths"])
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert "application/problem+json" in operation["responses"]["default"]["content"]


def test_the_schema_and_docs_are_staff_only_in_production(client, user, admin_user):
    for path in ("/api/schema/", "/api/docs/"):
        assert_problem(client.get(path), 403)
        client.force_login(user)
        assert_problem(client.get(path), 403)
        client.force_login(admin_user)
        assert client.get(path).status_code == 200
        client.logout()


def test_the_schema_is_open_with_debug(client, settings):
    settings.DEBUG = True

    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert b"monolink mobile API" in response.content


def test_the_docs_page_loads_swagger_ui_from_our_own_origin(admin_client):
    page = admin_client.get("/api/docs/")
    script = admin_client.get("/api/docs/?script=")

    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page.content
    assert b"<script>" not in page.content  # the start-up script comes from our own origin
    assert "script-src 'self';" in page["Content-Security-Policy"] + ";"
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content
