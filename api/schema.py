"""The OpenAPI schema (drf-spectacular, generated from the views; docs/openapi.yaml is the committed
copy) and its docs page: open with DEBUG, staff only in production."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer

from monolink.problems import CONTENT_TYPE

from .problems import exception_handler

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "description": "urn:monolink:problem:<code>, or about:blank."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "A sentence a person can read."},
        "errors": {"type": "object", "description": "Per field, for invalid input.", "additionalProperties": True},
        "state": {"type": "string", "description": "The account's state, when it is not flagged (409)."},
    },
    "required": ["type", "title", "status", "detail"],
}


def only_the_api(endpoints):
    """drf-spectacular pre-processing: the schema describes /api/v1/ only (not Mono's webhook)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


def add_problem_responses(result, generator, request, public):
    """drf-spectacular post-processing: every operation may answer a problem document (4xx, 5xx), as
    the `default` response, with the Problem component."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            operation.setdefault("responses", {})["default"] = {
                "description": "A problem (RFC 9457): 400, 401, 403, 404, 405, 409, 415, 422, 429, 502, 503.",
                "content": {CONTENT_TYPE: {"schema": ref}},
            }
    return result


class StaffUnlessDebug(BasePermission):
    """The schema and its docs are open on a developer's machine, for signed-in staff elsewhere (the
    admin's session and, when required, its second factor)."""

    def has_permission(self, request, view) -> bool:
        if settings.DEBUG:
            return True
        user = request.user
        if not (user and user.is_active and user.is_staff):
            return False
        return not settings.ADMIN_OTP_REQUIRED or user.is_verified()


class DocsAccess:
    authentication_classes = [SessionAuthentication]
    permission_classes = [StaffUnlessDebug]

    def get_exception_handler(self):
        return exception_handler

    def handle_exception(self, exc):
        # These views render YAML or HTML; a refusal is a problem document like every /api/ error.
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), CONTENT_TYPE
        return response


class SchemaView(DocsAccess, SpectacularAPIView):
    pass


class DocsView(DocsAccess, SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files, its start-up script served from here:
    nothing inline and nothing from another origin, so the site's CSP holds as it is."""
