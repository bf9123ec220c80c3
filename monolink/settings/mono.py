"""Mono: keys, API, the sandbox, deadlines, and the Content-Security-Policy that lets its widget in."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from monolink.env import env, required_secret

from .base import DEBUG

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
