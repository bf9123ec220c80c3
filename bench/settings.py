"""Settings for the benchmark server only: the production settings plus two comparison views.

`bench/run.py` sets the environment (DEBUG=false, DATABASE_URL, secrets, CONN_MAX_AGE_SECONDS, ...) before
this module runs, so everything the app does is exactly what production does. The app's own
URLconf never exposes the `bare` and `durable` views; only this one does.
"""

from monolink.settings import *  # noqa: F403
from monolink.settings import STORAGES

ROOT_URLCONF = "bench.urls"

# The load is plain HTTP on 127.0.0.1: no TLS in front, so no redirect to https.
SECURE_SSL_REDIRECT = False
# Pages are rendered only to count their queries; static files are not served or measured, so the
# manifest storage (which needs collectstatic) would only get in the way.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
