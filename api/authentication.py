"""The API's sign-in tokens: django-rest-knox's, one per device, stored hashed, with an expiry."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication


class DeviceTokenAuthentication(TokenAuthentication):
    """`Authorization: Bearer <token>`, as knox checks it, minus one query per request: knox also
    scans the user's other tokens for expired ones on every call; sign-in deletes those instead
    (api.auth), so a request costs one query (the token with its user)."""

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class DeviceTokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme (drf-spectacular's for knox, for this subclass)."""

    target_class = "api.authentication.DeviceTokenAuthentication"
    name = "deviceToken"
