"""The delivery pipeline's background work: replaying deliveries parked before their account existed.

Mono's webhooks can beat the browser's code exchange; those deliveries are answered 200 and parked as
`unmatched` (Mono will not send them again). Linking the account queues this job in the link's own
transaction (an outbox), so a crash after the commit delays the replay, never drops it.
"""

from __future__ import annotations

from monolink.taskqueue import QUEUE_MAINTENANCE, app, defer

from . import pipeline


def queue_replay(*, mono_account_id: str) -> None:
    """Replay the account's parked deliveries once the caller's transaction commits."""
    defer(replay_parked_deliveries, lock=f"replay:{mono_account_id}", mono_account_id=mono_account_id)


@app.task(queue=QUEUE_MAINTENANCE)
def replay_parked_deliveries(mono_account_id: str) -> int:
    """Run the account's `unmatched` deliveries through the pipeline, oldest first; safe to repeat."""
    return pipeline.replay_unmatched(mono_account_id=mono_account_id)
