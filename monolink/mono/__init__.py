"""The Mono integration: one interface, two implementations (the real API client, the sandbox).

`get_client()` picks the class named by settings.MONO_CLIENT at call time, the way Django picks an
email backend, so tests and deployments switch with a setting and nothing else imports `requests`
to reach Mono.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from .types import (
    CODE_MAX_LENGTH,
    AccountDetails,
    Deadline,
    Institution,
    MonoAuthError,
    MonoBadResponse,
    MonoCannotReauthorise,
    MonoClientProtocol,
    MonoError,
    MonoNotFound,
    MonoRateLimited,
    MonoRequestError,
    MonoUnavailable,
    ReauthToken,
    code_validator,
)

__all__ = [
    "CODE_MAX_LENGTH",
    "TRANSIENT",
    "AccountDetails",
    "Deadline",
    "Institution",
    "MonoAuthError",
    "MonoBadResponse",
    "MonoCannotReauthorise",
    "MonoClientProtocol",
    "MonoError",
    "MonoNotFound",
    "MonoRateLimited",
    "MonoRequestError",
    "MonoUnavailable",
    "ReauthToken",
    "code_validator",
    "get_client",
]

# Mono down or rate-limiting: worth another try later, for any task that calls Mono (the client has
# already retried within its deadline).
TRANSIENT = (MonoUnavailable, MonoRateLimited)


def get_client() -> MonoClientProtocol:
    return import_string(settings.MONO_CLIENT)()
