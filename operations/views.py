"""/healthz (liveness), /readyz (readiness) and /metrics (Prometheus)."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

import prometheus_client
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from health_check.views import HealthCheckView
from prometheus_client import multiprocess

from .access import bearer_token_matches, direct_from
from .collectors import DatabaseCollector
from .health import readiness_checks


@never_cache
def liveness(request):
    """The process answers HTTP. No database, no Mono: restarting the process fixes neither."""
    return HttpResponse("ok\n", content_type="text/plain")


class ReadinessView(HealthCheckView):
    """Ready to take traffic: database, migrations, task engine (django-health-check runs the checks).

    Anyone gets the verdict (200 or 503, which is all a load balancer reads); which check failed and
    why only staff or the HEALTH_CHECK_TOKEN bearer get, as the library's JSON, text or HTML.
    """

    def get_checks(self):
        # The library reads `checks`; ours depend on settings (the task engine), so built per request.
        self.checks = readiness_checks()
        return super().get_checks()

    @contextlib.contextmanager
    def get_executor(self):
        # Our own pool, not waited for on the way out: a check stuck past its time limit must not
        # hold the answer (the library stops waiting; the loop's default executor would join it).
        executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readiness")
        try:
            yield executor
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        ready = not any(result.error for result in self.results)
        if not await self._may_see_details(request):
            response = JsonResponse({"status": "ready" if ready else "unavailable"})
        response.status_code = 200 if ready else 503  # the library says 500; 503 is "not ready yet"
        # Not a server error to report: without this, Django logs every failing probe (every few
        # seconds, from each load balancer) at ERROR, and Sentry turns each into an event. The
        # library has already logged which check failed, at WARNING.
        response._has_been_logged = True
        return response

    @staticmethod
    async def _may_see_details(request) -> bool:
        if bearer_token_matches(request, settings.HEALTH_CHECK_TOKEN):
            return True
        try:
            user = await request.auser()
        except DatabaseError:  # the session lives in the database that may be what is down
            return False
        return bool(user.is_active and user.is_staff)


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
