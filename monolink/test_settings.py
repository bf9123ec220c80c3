"""Settings for the test suite: the real settings, the same whatever shell runs the suite.

Every variable `.env.example` lists (tests/test_env_example.py keeps that list complete), and every
retired one, is removed from this process's environment before the real settings read it; the
developer's `.env` is ignored; the few values the suite needs are pinned. So `DEBUG=true`,
`FORWARDED_ALLOW_IPS=*` or a real Mono key in the calling shell change nothing, here or in the
processes the tests start (they inherit this environment). DATABASE_URL alone comes from outside:
CI runs the suite on SQLite and on PostgreSQL.
"""

import os
import re

from monolink.env import BASE_DIR, RETIRED

_LISTED = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (BASE_DIR / ".env.example").read_text(), flags=re.MULTILINE)
for _name in {*_LISTED, *RETIRED} - {"DATABASE_URL"}:
    os.environ.pop(_name, None)
os.environ.update(
    {
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DEBUG": "false",
        "SECRET_KEY": "test-secret-key-for-the-suite-only-0123456789",
        "MONO_WEBHOOK_SECRET": "test-webhook-secret",
        "EMAIL_WEBHOOK_SECRET": "test-email-webhook-secret",
        "MONO_SANDBOX": "true",  # no Mono keys: the sandbox client, unless a test sets the real one
    }
)

from monolink.settings import *  # noqa: E402, F403

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
