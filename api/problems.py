"""Every error under /api/ as an RFC 9457 problem document (monolink.problems), set per view
(api.base.ApiView) so the webhook endpoint keeps DRF's own answers."""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.throttles import MonoActionLimited
from monolink.mono import TRANSIENT, MonoError, MonoRateLimited
from monolink.problems import CONTENT_TYPE, problem


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the account's current state."
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request was understood but cannot be carried out."
    default_code = "unprocessable"


class MonoFailed(exceptions.APIException):
    """Mono refused or failed (502), or is down or rate-limiting us (503, try again later)."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "mono-failed"

    def __init__(self, exc: MonoError):
        super().__init__(exc.user_message)
        if isinstance(exc, TRANSIENT):
            self.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            self.default_code = "mono-unavailable"
        self.retry_after = getattr(exc, "retry_after", None) if isinstance(exc, MonoRateLimited) else None


def _readable(data) -> str:
    """A validation error's fields as one sentence a person can read."""
    if isinstance(data, dict):
        parts = []
        for name, messages in data.items():
            text = " ".join(str(m) for m in messages) if isinstance(messages, list) else _readable(messages)
            parts.append(text if name in {"non_field_errors", "detail"} else f"{name}: {text}")
        return "; ".join(parts)
    if isinstance(data, list):
        return " ".join(str(item) for item in data)
    return str(data)


def exception_handler(exc, context):
    """DRF's handler (it turns Http404 and PermissionDenied into 404 and 403 and adds Retry-After and
    WWW-Authenticate), then the body rewritten as a problem document. None (a 500) stays Django's."""
    if isinstance(exc, MonoActionLimited):  # the services' per-user limit on calls to Mono (the pages' too)
        exc = exceptions.Throttled(wait=exc.retry_after, detail=exc.user_message)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = "not-found" if isinstance(exc, Http404) else str(getattr(exc, "default_code", "")).replace("_", "-")
    extra = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = f"Invalid request: {_readable(response.data)}."
        extra["errors"] = response.data
    elif isinstance(exc, Http404):
        detail = "Not found."
    else:
        detail = _readable(response.data)
    extra.update(getattr(exc, "extra", {}))
    response.data = problem(response.status_code, detail, code=code, **extra)
    response.content_type = CONTENT_TYPE
    if getattr(exc, "retry_after", None):
        response["Retry-After"] = str(int(exc.retry_after))
    return response
