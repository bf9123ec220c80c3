"""Settings for the test suite: the real settings, isolated from a developer's .env.

Tests must not pick up real Mono keys from a local .env, so the file is ignored and the few
variables the suite needs are given test values before the real settings module reads them.
DATABASE_URL still comes from the environment: CI runs the suite on SQLite and on PostgreSQL.
"""

import os

os.environ["DJANGO_READ_DOT_ENV_FILE"] = "false"
os.environ.setdefault("SECRET_KEY", "test-secret-key-for-the-suite-only-0123456789")
os.environ.setdefault("MONO_WEBHOOK_SECRET", "test-webhook-secret")
os.environ["MONO_SECRET_KEY"] = ""
os.environ["MONO_SANDBOX"] = "true"
os.environ.setdefault("DEBUG", "false")

from monolink.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never in production
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SECURE_SSL_REDIRECT = False
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Tasks run in-process after commit, so a test sees their effects at once; the PostgreSQL tests that
# prove the engine switch to "procrastinate" and start real worker processes.
TASKS_BACKEND = "in_process"
TASKS_ALLOW_IN_PROCESS = True
# The admin's second factor is production behaviour, but every admin test would need a device; its
# own tests (tests/test_security.py) switch it on. The production check proves it is on there.
ADMIN_OTP_REQUIRED = False
