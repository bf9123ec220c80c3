"""The background half of a link in a real Procrastinate worker process, against PostgreSQL.

Mono (a real HTTP server on 127.0.0.1) does not answer the request in time; the page says "pending"
at once; once Mono answers again a worker started as the README says exchanges the kept code.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import LinkAttempt, LinkedAccount
from tests.workers_support import no_jobs_left, start_worker_against, wait_for

pytestmark = pytest.mark.postgres

STUB_ACCOUNT = "65f0c0ffee00000000000a01"


def test_a_code_mono_did_not_take_in_time_is_linked_by_a_worker_once_mono_answers(
    workers,
    smtp_sink,
    stub_mono,
    user,
    settings,
    procrastinate_backend,
):
    settings.MONO_REQUEST_DEADLINE = 1
    stub_mono.plans["exchange"] = ["hang"]  # the request's try meets silence; the next one an answer
    client = Client()
    client.force_login(user)
    client.get("/")  # warm: the timing below is the link post's, not the first request's set-up

    started = time.monotonic()
    response = client.post("/link/complete/", {"code": "code_1", "institution": "Access Bank"}, "application/json")
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.content
    assert elapsed < settings.MONO_REQUEST_DEADLINE + 1, elapsed
    assert ProcrastinateJob.objects.get().args == {"attempt_id": LinkAttempt.objects.get().pk}

    start_worker_against(stub_mono, workers, smtp_sink)
    wait_for(lambda: LinkAttempt.objects.filter(status="linked").exists(), timeout=30, what="the worker's exchange")

    attempt = LinkAttempt.objects.get()
    assert attempt.code is None
    account = LinkedAccount.objects.get(mono_account_id=STUB_ACCOUNT)
    assert (account.user, account.institution_name) == (user, "Access Bank")
    assert stub_mono.count("exchange") == 2  # the unanswered try, then the worker's
    assert client.get(response.json()["status_url"]).json()["status"] == "linked"
    wait_for(no_jobs_left, timeout=10, what="the job to finish")
