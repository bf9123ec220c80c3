"""monolink settings, from the environment and `.env` (monolink/env.py; `.env.example` lists every
variable). With DEBUG off this is production: secrets have no default and a missing one stops
start-up with its name. Durations are seconds, and their variables say so (`..._SECONDS`).
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from monolink import email_providers, log_context, logs
from monolink.env import BASE_DIR, env, forwarded_allow_ips, ip_list, load, log_level, required_secret

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
# psycopg prepares a server-side bound statement after its fifth run on a connection: only the
# webhook's hot statement is one (webhooks/store.py); Django's own queries bind client-side and are
# never prepared. Off (false) behind PgBouncer in transaction mode without prepared-statement support.
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

# --- Mono -------------------------------------------------------------------------------------
MONO_SECRET_KEY = env.str("MONO_SECRET_KEY", default="")
MONO_PUBLIC_KEY = env.str("MONO_PUBLIC_KEY", default="")
MONO_WEBHOOK_SECRET = required_secret("MONO_WEBHOOK_SECRET", debug=DEBUG)
MONO_API_BASE_URL = env.str("MONO_API_BASE_URL", default="https://api.withmono.com").rstrip("/")
# "v2" uses /v2/accounts/...; "v1" the legacy paths (docs/mono.md).
MONO_API_VERSION = env.str("MONO_API_VERSION", default="v2")
# "account": connect.js >= 2.1.0 takes reauthorise(accountId); "token": <= 2.0.2 takes a token.
MONO_REAUTH_MODE = env.str("MONO_REAUTH_MODE", default="account")
if MONO_REAUTH_MODE not in {"account", "token"}:
    raise ImproperlyConfigured("MONO_REAUTH_MODE must be 'account' or 'token'.")
# With no secret key the built-in sandbox stands in for Mono (like Django's email backends). With
# DEBUG off it must be asked for by name (MONO_SANDBOX=true, a demo site): the sandbox's fake Mono
# endpoint lets anyone who reaches the site send account_reauthorized for any account.
_sandbox_asked = env.bool("MONO_SANDBOX", default=None)
MONO_SANDBOX = not MONO_SECRET_KEY if _sandbox_asked is None else _sandbox_asked
if not DEBUG and not MONO_SECRET_KEY and not _sandbox_asked:
    raise ImproperlyConfigured(
        "MONO_SECRET_KEY must be set when DEBUG is off (or set MONO_SANDBOX=true for a demo site)."
    )
if MONO_SANDBOX and MONO_SECRET_KEY:
    raise ImproperlyConfigured("MONO_SANDBOX=true cannot be used with a MONO_SECRET_KEY: remove one of them.")
# Empty values in .env mean "the default", so the example file can list every variable.
MONO_CLIENT = env.str("MONO_CLIENT", default="") or (
    "monolink.mono.sandbox.SandboxClient" if MONO_SANDBOX else "monolink.mono.client.MonoClient"
)
MONO_CONNECT_JS_URL = env.str("MONO_CONNECT_JS_URL", default="") or (
    "/static/sandbox/connect.js" if MONO_SANDBOX else "https://connect.withmono.com/connect.js"
)
# Where the sandbox delivers its webhooks (the app's own endpoint); empty: SITE_URL's. Never a host
# from the request: the delivery carries the webhook secret, and a Host header is the client's to forge.
MONO_SANDBOX_WEBHOOK_URL = env.str("MONO_SANDBOX_WEBHOOK_URL", default="")
# One total budget per call to Mono, retries and waits included (monolink.mono.Deadline): a web request
# must answer well inside gunicorn's timeout; a background task can afford to wait longer.
MONO_REQUEST_DEADLINE = env.float("MONO_REQUEST_DEADLINE_SECONDS", default=8)
MONO_TASK_DEADLINE = env.float("MONO_TASK_DEADLINE_SECONDS", default=60)
# Fixed (tests shorten them): connect and read timeouts, retries with exponential backoff (factor *
# 2**attempt s, full jitter), and the longest Retry-After honoured within the deadline (a longer one
# fails the call at once with MonoRateLimited; the caller retries later).
MONO_TIMEOUT = (3.05, 15)
MONO_MAX_RETRIES = 3
MONO_BACKOFF_FACTOR = 0.5
MONO_RETRY_AFTER_MAX = 30
# Mono's re-auth tokens live 10 minutes; one is minted per click, never kept (the sandbox's expire too).
MONO_REAUTH_TOKEN_LIFETIME = timedelta(minutes=10)
# The Connect widget's one-time link code is short-lived; a code Mono has not taken by then is given up.
MONO_LINK_CODE_LIFETIME = timedelta(minutes=10)
# After the widget reports success the user is not sent back to the re-auth page for this long,
# while we wait for Mono's account_reauthorized webhook.
REAUTH_GRACE_PERIOD = timedelta(minutes=15)
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024

# --- Content-Security-Policy (django-csp): our own origin, Mono's script and frame, nothing else --
_connect_js_origin = "/".join(MONO_CONNECT_JS_URL.split("/")[:3]) if "://" in MONO_CONNECT_JS_URL else None
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"] + ([_connect_js_origin] if _connect_js_origin else []),
        "frame-src": ["'self'", "https://connect.mono.co"],
        "connect-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Background tasks (monolink/taskqueue.py, docs/tasks.md) -------------------------------------
# "procrastinate": jobs in our PostgreSQL database, run by `python manage.py run_worker`
# (production). "in_process": run in this process right after commit, no retries, for `./dev run` on
# SQLite, where Procrastinate cannot run; production refuses it (monolink.E002) unless
# TASKS_ALLOW_IN_PROCESS=true says a demo site accepts losing tasks.
_ON_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
TASKS_BACKEND = env.str("TASKS_BACKEND", default="") or ("procrastinate" if _ON_POSTGRES else "in_process")
if TASKS_BACKEND not in {"procrastinate", "in_process"}:
    raise ImproperlyConfigured("TASKS_BACKEND must be 'procrastinate' or 'in_process'.")
if TASKS_BACKEND == "procrastinate" and not _ON_POSTGRES:
    raise ImproperlyConfigured("TASKS_BACKEND=procrastinate needs PostgreSQL (DATABASE_URL=postgres://...).")
TASKS_ALLOW_IN_PROCESS = env.bool("TASKS_ALLOW_IN_PROCESS", default=False)
if not _ON_POSTGRES:
    MIGRATION_MODULES = {"procrastinate": None}  # its schema is PostgreSQL-only; nothing to create here
# Fixed (the worker tests shorten them): a worker writes a heartbeat every TASKS_HEARTBEAT seconds;
# one silent for TASKS_STALLED_AFTER is dead and its jobs are queued again by the reaper (every 5 s).
# Retries of transient failures wait TASKS_RETRY_BASE * 2**attempt s (jittered), at most TASKS_RETRY_CAP.
TASKS_HEARTBEAT = 2
TASKS_STALLED_AFTER = 6
TASKS_RETRY_BASE = 2
TASKS_RETRY_CAP = 900
# Email's own job slots in every run_worker serving the mail queue, apart from Mono's
# (TASKS_CONCURRENCY): a hanging Mono never holds an email back.
TASKS_MAIL_CONCURRENCY = env.int("TASKS_MAIL_CONCURRENCY", default=2)
PROCRASTINATE_IMPORT_PATHS = ["monolink.taskqueue"]
PROCRASTINATE_WORKER_DEFAULTS = {
    "concurrency": env.int("TASKS_CONCURRENCY", default=4),
    "update_heartbeat_interval": TASKS_HEARTBEAT,
    "stalled_worker_timeout": TASKS_STALLED_AFTER,
    # Polling instead of LISTEN/NOTIFY: a worker whose listening connection drops (a database blip)
    # stops itself, while a polling one reconnects and carries on. A new job waits up to a second.
    "listen_notify": False,
    "fetch_job_polling_interval": 1,
    # Finished jobs leave the table (it is the queue, kept small); failed ones stay for staff.
    "delete_jobs": "successful",
    "shutdown_graceful_timeout": 30,
    # A job's log lines carry its id and task name (docs/operations.md).
    "task_middleware": [log_context.task_middleware],
}

# --- Re-auth emails, reminders and the reconciler (accounts/notifications.py, docs/tasks.md) ------
# While an account stays flagged the user is emailed again this many days after the flag
# ("1,3,7"; empty: no reminders). Fractions are allowed ("0.5" is twelve hours).
try:
    REAUTH_REMINDER_DAYS = [float(day) for day in env.list("REAUTH_REMINDER_DAYS", default=["1", "3", "7"]) if day]
except ValueError:
    raise ImproperlyConfigured("REAUTH_REMINDER_DAYS must be numbers of days, e.g. 1,3,7.") from None
if any(day <= 0 for day in REAUTH_REMINDER_DAYS) or sorted(set(REAUTH_REMINDER_DAYS)) != REAUTH_REMINDER_DAYS:
    raise ImproperlyConfigured("REAUTH_REMINDER_DAYS must be positive and increasing, e.g. 1,3,7.")
# The reconciler queues a first email the webhook's job should have sent after REAUTH_EMAIL_GRACE,
# and a refresh for an account whose details are older than DETAILS_MAX_AGE; at most
# RECONCILE_BATCH of each per pass, a pass every minute (RECONCILE_CRON, Procrastinate's cron syntax).
REAUTH_EMAIL_GRACE = timedelta(seconds=env.float("REAUTH_EMAIL_GRACE_SECONDS", default=300))
DETAILS_MAX_AGE = timedelta(seconds=env.float("DETAILS_MAX_AGE_SECONDS", default=24 * 3600))
RECONCILE_BATCH = 500
RECONCILE_CRON = env.str("RECONCILE_CRON", default="*/1 * * * *")

# --- Email ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# SMTP in one variable, e.g. EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (sets the backend,
# host, port, credentials and TLS; the password is redacted from logs like the other secrets).
_email_url = env.str("EMAIL_URL", default="")
if _email_url:
    globals().update(env.email_url_config(_email_url))
# Bounds the whole SMTP conversation: a hung mail server must not hold a mail worker's job slot for
# ever (Django's default: no timeout). No lock is held while sending; the send is recorded after.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_SECONDS", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="monolink <no-reply@localhost>")
# Where a locked-out or stuck user writes to; named on the lockout and error pages.
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="support@localhost")
# A transactional provider instead of SMTP, through django-anymail, with bounce and complaint
# tracking (docs/email.md): amazon_ses, postmark, mailgun or sendgrid, with that provider's keys.
EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", default="")
# The tracking webhook's basic auth ("anymail:<secret>"): required with a provider. The endpoint is
# mounted for the provider only; in the sandbox without one (with DEBUG, or on a demo site that set
# the secret), in Postmark's format, so `mail_event` can send fake bounces through anymail's parser.
EMAIL_WEBHOOK_SECRET = required_secret("EMAIL_WEBHOOK_SECRET", debug=DEBUG, optional=not EMAIL_PROVIDER)
EMAIL_TRACKING_PROVIDER = EMAIL_PROVIDER or ("postmark" if MONO_SANDBOX and EMAIL_WEBHOOK_SECRET else "")
ANYMAIL = email_providers.anymail_settings(
    EMAIL_PROVIDER,
    webhook_secret=EMAIL_WEBHOOK_SECRET,
    timeout_seconds=EMAIL_TIMEOUT,
    debug=DEBUG,
    keys={
        "AWS_ACCESS_KEY_ID": env.str("AWS_ACCESS_KEY_ID", default=""),
        "AWS_SECRET_ACCESS_KEY": env.str("AWS_SECRET_ACCESS_KEY", default=""),
        "AWS_REGION": env.str("AWS_REGION", default=""),
        "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN", default=""),
        "MAILGUN_API_KEY": env.str("MAILGUN_API_KEY", default=""),
        "MAILGUN_SENDER_DOMAIN": env.str("MAILGUN_SENDER_DOMAIN", default=""),
        "MAILGUN_API_URL": env.str("MAILGUN_API_URL", default=""),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
        "SENDGRID_API_KEY": env.str("SENDGRID_API_KEY", default=""),
        "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY": env.str("SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY", default=""),
    },
)
if EMAIL_PROVIDER and _email_url:
    raise ImproperlyConfigured("Set EMAIL_PROVIDER or EMAIL_URL (SMTP), not both.")
if EMAIL_PROVIDER:
    EMAIL_BACKEND = email_providers.BACKENDS[EMAIL_PROVIDER]
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

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

# Logs go to stdout (the platform collects them): JSON lines in production, plain lines with DEBUG,
# every line redacted (monolink/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="") or ("line" if DEBUG else "json")
if LOG_FORMAT not in {"line", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'line'.")
LOGGING = logs.django_config(formatter=LOG_FORMAT, level=log_level())

# --- Operations: health, metrics, error reports, request ids (docs/operations.md) ---------------
# /metrics answers a bearer token, or a direct request (no X-Forwarded-For: not through the proxy)
# from these addresses. Loopback is allowed by default only with DEBUG (./dev run).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = ip_list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"] if DEBUG else [])
# /readyz says ready or not to anyone; which check failed only to staff or this bearer token.
HEALTH_CHECK_TOKEN = env.str("HEALTH_CHECK_TOKEN", default="")
# Every readiness check and every scrape-time query gives up after this many seconds.
HEALTH_CHECK_TIMEOUT = 3
# Readiness fails when no task worker has sent a heartbeat, or a ready job has waited, this long
# (PostgreSQL task engine only). HEALTH_CHECK_TASK_QUEUE=false keeps web servers in the load
# balancer while workers are down, leaving that to the alerts (docs/operations.md).
HEALTH_CHECK_TASK_QUEUE = env.bool("HEALTH_CHECK_TASK_QUEUE", default=True)
HEALTH_WORKER_HEARTBEAT_MAX = timedelta(seconds=env.int("HEALTH_WORKER_HEARTBEAT_MAX_SECONDS", default=120))
HEALTH_QUEUE_MAX_AGE = timedelta(seconds=env.int("HEALTH_QUEUE_MAX_AGE_SECONDS", default=900))
# Load balancers probe over plain HTTP inside the network: no redirect to HTTPS for these.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from monolink import sentry

    sentry.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production" if not DEBUG else "development"),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
