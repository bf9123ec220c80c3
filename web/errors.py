"""The error pages in the site's look (templates/404.html and its siblings), for what Django's own
handlers cannot render: a failed CSRF check with the request (so the page sets a fresh token), and a
500 that names the support address without touching the database or the request."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseForbidden, HttpResponseServerError
from django.shortcuts import render
from django.template import loader


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseForbidden:
    """CSRF_FAILURE_VIEW. `reason` is for developers (Django logs it); the user reads what to do."""
    return render(request, "403_csrf.html", status=403)


def server_error(request: HttpRequest) -> HttpResponseServerError:
    """handler500. Rendered without the request's context processors: whatever broke the request
    (the database, a middleware) must not break its error page too."""
    body = loader.get_template("500.html").render({"SUPPORT_EMAIL": settings.SUPPORT_EMAIL})
    return HttpResponseServerError(body)
