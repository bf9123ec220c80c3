"""/healthz (liveness), /readyz (readiness) and /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import prometheus_client
from django.conf import settings
from django.contrib import admin
from django.db import DatabaseError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck, HealthCheckResult
from health_check.views import HealthCheckView
from prometheus_client import multiprocess

from .access import bearer_token_matches, direct_from
from .collectors import DatabaseCollector
from .health import readiness_checks


@never_cache
def liveness(request):
    """The process answers HTTP. No database, no Mono: restarting the process fixes neither."""
    return HttpResponse("ok\n", content_type="text/plain")


@method_decorator([never_cache, transaction.non_atomic_requests], name="dispatch")
class ReadinessView(HealthCheckView):
    """Ready to take traffic: database, migrations, task engine (django-health-check's checks).

    Anyone gets the verdict (200 or 503, which is all a load balancer reads); which check failed and
    why only staff who may open the admin (second factor included) or the HEALTH_CHECK_TOKEN bearer
    get, as the library's JSON (or ?format=text).

    A sync view: the library's is async, and an async view served through WSGI starts an event loop
    in the request's thread, which fails wherever one is already running there (Playwright's sync
    API does that in the tests). The checks run as the library runs them, each with its time limit,
    on a loop in a thread of their own.
    """

    def dispatch(self, request, *args, **kwargs):
        return View.dispatch(self, request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        self.results = _run_checks([check() for check in readiness_checks()])
        ready = not any(result.error for result in self.results)
        status = 200 if ready else 503  # the library says 500; 503 is "not ready yet"
        if not _may_see_details(request):
            response = JsonResponse({"status": "ready" if ready else "unavailable"}, status=status)
        elif request.GET.get("format") == "text":
            response = self.render_to_response_text(status)
        else:
            response = self.render_to_response_json(status)
        # Not a server error to report: without this, Django logs every failing probe (every few
        # seconds, from each load balancer) at ERROR, and Sentry turns each into an event. The
        # library has already logged which check failed, at WARNING.
        response._has_been_logged = True
        return response


def _run_checks(checks: list[HealthCheck]) -> list[HealthCheckResult]:
    async def gather(executor):
        return await asyncio.gather(*(check.get_result(executor) for check in checks))

    # Our own pools, not waited for on the way out: a check stuck past its time limit must not hold
    # the answer (the library stops waiting for it; a pool's shutdown would not).
    checks_pool = ThreadPoolExecutor(max_workers=len(checks) or 1, thread_name_prefix="readiness")
    loop_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness-loop")
    try:
        return loop_thread.submit(asyncio.run, gather(checks_pool)).result()
    finally:
        checks_pool.shutdown(wait=False, cancel_futures=True)
        loop_thread.shutdown(wait=False)


def _may_see_details(request) -> bool:
    if bearer_token_matches(request, settings.HEALTH_CHECK_TOKEN):
        return True
    try:
        # The admin's own test: active staff, and past the second factor when ADMIN_OTP_REQUIRED
        # (a password-only session from the site's sign-in page is not enough).
        return admin.site.has_permission(request)
    except DatabaseError:  # the session lives in the database that may be what is down
        return False


@never_cache
def metrics(request):
    """Prometheus exposition: this machine's processes (summed across gunicorn workers through
    PROMETHEUS_MULTIPROC_DIR) plus the database gauges. Bearer token or a direct allowed address."""
    if not (
        bearer_token_matches(request, settings.METRICS_TOKEN) or direct_from(request, settings.METRICS_ALLOWED_IPS)
    ):
        response = HttpResponse("Metrics need a bearer token (METRICS_TOKEN) or an allowed address.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = prometheus_client.REGISTRY
    database = prometheus_client.CollectorRegistry()
    database.register(DatabaseCollector())
    body = prometheus_client.generate_latest(processes) + prometheus_client.generate_latest(database)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
