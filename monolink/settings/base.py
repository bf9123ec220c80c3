"""The core: the app's parts, its middleware, the database, sign-in hardening, static files and
production's HTTPS settings. Read first: it loads `.env` (monolink/env.py)."""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from monolink.env import BASE_DIR, env, forwarded_allow_ips, load, required_secret

load()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = required_secret("SECRET_KEY", debug=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "web.errors.csrf_failure"  # the site's "this form has expired" page, not Django's

INSTALLED_APPS = [
    "staff.apps.StaffAdminConfig",  # django.contrib.admin with the staff second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served as our own static files
    "csp",
    "procrastinate.contrib.django",
    "anymail",  # its system checks (insecure or deprecated settings)
    # The project's layers, lowest first (docs/architecture.md): each imports only those listed before it.
    "monolink.apps.MonolinkConfig",
    "accounts",
    "reauth",
    "notifications",
    "webhooks",
    "linking",
    "web",
    "staff.apps.StaffConfig",
    "staff.apps.SignInLockoutsConfig",  # axes, under a plain name
    "django_otp",
    "staff.apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp, under a plain name
    "django_prometheus",
    "health_check",
    "operations",
    "api",
]

_EVERY_ROUTE_MIDDLEWARE = [
    # First: the raw peer address (the request-id trust check reads it) and the id on every line.
    "monolink.middleware.RequestLogMiddleware",
    "monolink.security.ForwardedHeadersMiddleware",  # then nothing may read an untrusted X-Forwarded-*
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
]
_PAGE_MIDDLEWARE = [
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "monolink.security.SignedInNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out sign-in into the lockout page
]
_LAST = "django_prometheus.middleware.PrometheusAfterMiddleware"  # last: times the whole answer
MIDDLEWARE = [*_EVERY_ROUTE_MIDDLEWARE, *_PAGE_MIDDLEWARE, _LAST]
# Routes no browser calls (Mono's webhook, by URL name) never have a session, a user, a second
# factor or an HTML page: monolink.wsgi serves them without the page middleware
# (monolink.middleware.MachineRoutes).
MACHINE_ROUTES = ["webhooks:mono"]
MACHINE_ROUTE_MIDDLEWARE = [*_EVERY_ROUTE_MIDDLEWARE, "monolink.middleware.NoConnectionHealthCheck", _LAST]

ROOT_URLCONF = "monolink.urls"
WSGI_APPLICATION = "monolink.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context_processors.monolink",
            ],
        },
    },
]

# SQLite in the project is the embedded default; production sets DATABASE_URL to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: opening a PostgreSQL connection per request costs more than a webhook.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE_SECONDS", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# psycopg prepares a server-side bound statement after its fifth run on a connection: the webhook's
# hot statement (webhooks/store.py) and the task workers' Procrastinate queries; Django's own queries
# bind client-side and are never prepared. Off (false) behind PgBouncer in transaction mode without
# prepared-statement support.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server, the sandbox's webhook deliveries and a worker
    # share the file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Sign-in hardening (docs/security.md) -------------------------------------------------------
# django-axes: after AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair
# is locked out for the cool-off (a 429 page, on the site's sign-in and the admin's alike); a
# successful sign-in clears the count. Staff see and delete lockouts in admin (Axes > Access attempts).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("SIGNIN_LOCKOUT_SECONDS", default=15 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Password spraying: an address is also locked out after this many wrong passwords across usernames
# (accounts.throttles.SignInLockout, counted from axes' own rows, so shared by every app server).
AXES_HANDLER = "accounts.throttles.SignInLockout"
SIGNIN_ADDRESS_FAILURE_LIMIT = env.int("SIGNIN_ADDRESS_FAILURE_LIMIT", default=20)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "monolink.client_address.client_ip"
AXES_SENSITIVE_PARAMETERS = ["otp_token"]  # never keep a submitted second-factor code in the attempt log
AXES_VERBOSE = False  # no banner line at every start-up (failures and lockouts are still logged)
# Under /api/ a lockout answers in the API's problem shape, elsewhere with the lockout page.
AXES_LOCKOUT_CALLABLE = "monolink.security.lockout_response"
# The proxies whose X-Forwarded-* and X-Request-ID headers are believed, as gunicorn does; with "*",
# how many proxies stand in front (the client is that many hops from the right of X-Forwarded-For).
# monolink/client_address.py has the one rule every client address follows (docs/security.md).
FORWARDED_ALLOW_IPS = forwarded_allow_ips()
FORWARDED_PROXY_HOPS = env.int("FORWARDED_PROXY_HOPS", default=1)
if FORWARDED_PROXY_HOPS < 1:
    raise ImproperlyConfigured("FORWARDED_PROXY_HOPS must be 1 or more (the proxies in front of gunicorn).")
# Staff need a TOTP code on /admin/ (django-otp): on by default in production, off for `./dev run`.
ADMIN_OTP_REQUIRED = env.bool("ADMIN_OTP_REQUIRED", default=not DEBUG)
OTP_TOTP_ISSUER = "monolink"
# A signed-in session ends after 12 hours by default (Django's default is two weeks).
SESSION_COOKIE_AGE = env.int("SESSION_LIFETIME_SECONDS", default=12 * 3600)
# The debug page and error reports hide every *_URL / DSN too (DATABASE_URL, EMAIL_URL hold passwords).
DEFAULT_EXCEPTION_REPORTER_FILTER = "monolink.security.ExceptionReporterFilter"

# "Forgot password?": at most this many reset emails per address and per client IP in the window.
PASSWORD_RESET_THROTTLE = {"per_email": 3, "per_ip": 10, "window": timedelta(hours=1)}
# Mono calls a click causes, per account (Reconnect) and per user (link), then 429 (allow_mono_action).
MONO_ACTION_LIMITS = {"reconnect": {"calls": 5, "per_seconds": 60}, "link": {"calls": 5, "per_seconds": 60}}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Africa/Lagos")
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["monolink.formats"]  # one date format everywhere, the admin included

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `collectstatic` writes here and whitenoise serves from here (hashed, compressed, cached forever).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Production hardening (all on when DEBUG is off) ---------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
