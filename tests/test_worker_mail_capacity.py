"""Mail has job slots of its own: with every Mono slot hung, a new flag's email still goes out.

Real processes on PostgreSQL: one `run_worker` started as the docs say (every queue), Mono a real
HTTP server on 127.0.0.1 that never answers, ten refreshes queued ahead of the flag's email, and an
SMTP server receiving (the `workers` and `smtp_sink` fixtures of tests/conftest.py).
"""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from monolink.mono import payloads
from reauth.tasks import queue_refresh

from .workers_support import deliver, wait_for

pytestmark = pytest.mark.postgres

MONO_SLOTS = 2
EMAIL_WITHIN = 15.0


def test_a_new_flags_email_goes_out_while_every_mono_slot_hangs(
    workers, smtp_sink, stub_mono, make_account, procrastinate_backend
):
    sink = smtp_sink()
    hung = [make_account(institution_name="Kuda Bank") for _ in range(10)]
    flagged = make_account()
    stub_mono.plans["details"] = ["hang"] * len(hung)  # Mono accepts and never answers
    with transaction.atomic():
        for account in hung:
            queue_refresh(mono_account_id=account.mono_account_id)

    workers.start(
        sink,
        overrides={
            "MONO_SANDBOX": None,
            "MONO_SECRET_KEY": stub_mono.secret_key,
            "MONO_PUBLIC_KEY": "test_pk_stub",
            "MONO_API_BASE_URL": stub_mono.url,
            "MONO_API_VERSION": "v2",
            "TASKS_CONCURRENCY": str(MONO_SLOTS),
        },
    )
    wait_for(lambda: stub_mono.count("details") >= MONO_SLOTS, timeout=30, what="every Mono slot to hang")
    assert deliver(payloads.reauthorisation_required(flagged.mono_account_id)) == 200
    flagged_at = time.monotonic()

    wait_for(lambda: len(sink.received) == 1, timeout=EMAIL_WITHIN, what="the flag's email beside a hung Mono")

    print(f"email {time.monotonic() - flagged_at:.1f} s after the flag, {MONO_SLOTS} Mono slots hung")
    assert "Subject: Reconnect your GTBank account" in sink.received[0]
    assert stub_mono.count("details") == MONO_SLOTS  # still hung: nothing else got Mono's slots
