"""The re-auth state's background work: fetching an account's details from Mono.

Thin: each task calls one service in reauth.state. Task names keep the `accounts.tasks.` prefix they
had before the code moved here, so jobs already queued by an older release still find their task.
"""

from __future__ import annotations

from django.conf import settings

from monolink.mono import TRANSIENT, Deadline
from monolink.taskqueue import QUEUE_MONO, Backoff, app, defer

from . import state


def queue_refresh(*, mono_account_id: str) -> None:
    """Fetch the account from Mono soon, in the caller's transaction; one waiting refresh per account is enough."""
    defer(refresh_account_details, queueing_lock=f"refresh:{mono_account_id}", mono_account_id=mono_account_id)


# Mono outages and 429s are transient; the client already retried within its deadline, so the task
# backs off for longer (2 s doubling to 15 min, ~2 h in all) before it fails for staff to see.
@app.task(
    name="accounts.tasks.refresh_account_details",
    queue=QUEUE_MONO,
    retry=Backoff(max_attempts=12, retry_exceptions=TRANSIENT),
)
def refresh_account_details(mono_account_id: str) -> str:
    """Fetch the account from Mono and store it: the webhook is a hint, the API is the truth."""
    change = state.refresh_details(
        mono_account_id=mono_account_id, deadline=Deadline.after(settings.MONO_TASK_DEADLINE)
    )
    return "skipped" if change == state.Change.IGNORED else str(change)
