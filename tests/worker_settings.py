"""Settings for the worker processes the PostgreSQL tests start (tests/test_worker.py): production's
settings, from the environment the test gives them, with the task timings shortened so a test takes
seconds. docs/tasks.md has the production values; bench/worker_recovery.py measures them."""

from monolink.settings import *  # noqa: F403
from monolink.settings import PROCRASTINATE_WORKER_DEFAULTS

TASKS_HEARTBEAT = 0.5
TASKS_STALLED_AFTER = 2.0  # tests/test_worker.py's STALLED_AFTER
TASKS_RETRY_BASE = 0.2
PROCRASTINATE_WORKER_DEFAULTS = {
    **PROCRASTINATE_WORKER_DEFAULTS,
    "update_heartbeat_interval": TASKS_HEARTBEAT,
    "stalled_worker_timeout": TASKS_STALLED_AFTER,
    "fetch_job_polling_interval": 0.2,
}
MONO_MAX_RETRIES = 0  # a worker against the stub Mono (tests/test_link_worker.py) tries once
