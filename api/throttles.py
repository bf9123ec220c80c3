"""Per-user limits on the endpoints that call Mono (or may: a link, a token-mode credential, Mono's
hosted page), so one app or one stolen token cannot spend the fintech's Mono quota.

DRF's UserRateThrottle, counting in Django's database cache (settings.CACHES["api_throttle"]):
several app servers share nothing but the database, and a per-process cache would let each allow
the full rate. Two racing requests can both pass the last slot (DRF reads then writes the count):
a brake, not a guarantee, like the password-reset throttle.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import UserRateThrottle

from monolink.client_address import client_ip


class MonoCallThrottle(UserRateThrottle):
    scope = "mono"

    @property
    def cache(self):
        return caches["api_throttle"]

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATES[self.scope]  # read per request, so tests can lower it

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"  # the project's one client-address rule


class LinkThrottle(MonoCallThrottle):
    scope = "link"
