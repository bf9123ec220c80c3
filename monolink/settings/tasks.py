"""Background tasks (Procrastinate), re-auth emails, reminders and the reconciler."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from monolink import log_context
from monolink.env import env

from .base import DATABASES

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
