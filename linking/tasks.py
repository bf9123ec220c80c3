"""The background half of a link: exchange a pending attempt's code until Mono answers or it expires.

Thin: the task calls linking.exchange.exchange_link. Its name keeps the `accounts.tasks.` prefix it
had before the code moved here, so jobs already queued by an older release still find it.
"""

from __future__ import annotations

from django.conf import settings

from monolink.mono import TRANSIENT, Deadline
from monolink.taskqueue import QUEUE_MAINTENANCE, QUEUE_MONO, Backoff, app, defer

from .exchange import LinkExchangeBusy, exchange_link, expire_overdue_attempts


def queue_exchange(*, attempt_id: int, after: float) -> None:
    """Exchange the attempt's code in the background `after` seconds from now, in the caller's transaction."""
    defer(exchange_link_code, schedule_in=after, attempt_id=attempt_id)


# Retried while Mono is down, until Mono answers or the code expires (MONO_LINK_CODE_LIFETIME): the
# attempt then fails for the user to try again. At the default backoff (2 s doubling, capped at
# 15 min) 20 attempts span hours, so the job ends through the code's expiry, not its last attempt.
@app.task(
    name="accounts.tasks.exchange_link_code",
    queue=QUEUE_MONO,
    retry=Backoff(max_attempts=20, retry_exceptions=(*TRANSIENT, LinkExchangeBusy)),
)
def exchange_link_code(attempt_id: int) -> str:
    """The attempt's code, by id (a job's arguments are shown in admin, so never the code itself)."""
    deadline = Deadline.after(settings.MONO_TASK_DEADLINE)
    return exchange_link(attempt_id=attempt_id, deadline=deadline, lease=settings.MONO_TASK_DEADLINE + 1).status


@app.periodic(cron=settings.RECONCILE_CRON)
@app.task(name="linking.tasks.expire_link_codes", queue=QUEUE_MAINTENANCE, queueing_lock="expire_link_codes")
def expire_link_codes(timestamp: int) -> str:
    """Every minute on any worker: no link code outlives its attempt's job (linking.exchange)."""
    return f"expired={expire_overdue_attempts()}"
