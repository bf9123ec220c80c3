"""The mobile API (/api/v1/): DRF, knox tokens, throttles and the OpenAPI schema."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from monolink.env import env

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    # Only the schema generator reads this; the API's views set their own classes (api/base.py).
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# --- The mobile API (/api/v1/, docs/mobile.md) --------------------------------------------------
# A device's sign-in token (django-rest-knox: shown once, stored hashed) lasts this long.
API_TOKEN_LIFETIME_SECONDS = env.int("API_TOKEN_LIFETIME_SECONDS", default=30 * 24 * 3600)
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=API_TOKEN_LIFETIME_SECONDS),
    "AUTH_HEADER_PREFIX": "Bearer",
    "AUTO_REFRESH": False,
    "USER_SERIALIZER": None,
}
# Where Mono's hosted re-auth page finally returns the user: the app's deep links (custom scheme or
# https App/Universal Links). The API only ever redirects to one of these, picked by position.
MOBILE_DEEP_LINKS = env.list("MOBILE_DEEP_LINKS", default=[])
if any("://" not in link for link in MOBILE_DEEP_LINKS):
    raise ImproperlyConfigured("MOBILE_DEEP_LINKS must be full links, e.g. myapp://mono-return.")
# Per user, on every endpoint that calls Mono (fixed; tests lower them). Counted in the database
# cache below: several app servers share nothing but the database.
API_THROTTLE_RATES = {"mono": "30/hour", "link": "20/hour"}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The API's throttle counts (api/throttles.py), a table every app server sees (api's migration
    # creates it). Culling would forget counts, so it only starts far beyond the users' needs.
    "api_throttle": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "api_throttle_cache",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000, "CULL_FREQUENCY": 10},
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "monolink mobile API",
    "DESCRIPTION": "Re-authorise and link bank accounts from a mobile app through Mono's Connect SDKs "
    "(docs/mobile.md). Errors are RFC 9457 problem details (application/problem+json).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["api.schema.only_the_api"],
    # /api/docs/ (Swagger UI) from the pinned drf-spectacular-sidecar: our origin, offline, under the CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.add_problem_responses"],
}
