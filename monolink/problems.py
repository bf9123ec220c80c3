"""RFC 9457 problem details: the one error shape of the mobile API (/api/).

Here, at the bottom, because two layers answer in it: the API's exception handler (api/problems.py)
and the sign-in lockout, which django-axes answers from its middleware (monolink.security).
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse

CONTENT_TYPE = "application/problem+json"


def problem(status: int, detail: str, *, code: str = "", **extra) -> dict:
    """A problem document. `type` names a monolink problem (urn:monolink:problem:<code>) when it has
    one the app may switch on, else "about:blank" (the HTTP status says it all, RFC 9457 §4.2.1)."""
    return {
        "type": f"urn:monolink:problem:{code}" if code else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }


def problem_response(status: int, detail: str, *, code: str = "", **extra) -> JsonResponse:
    return JsonResponse(problem(status, detail, code=code, **extra), status=status, content_type=CONTENT_TYPE)
