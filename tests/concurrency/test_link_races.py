"""Racing posts of one widget code against PostgreSQL: real threads, each with its own connection
and its own signed-in client, released together; Mono is a real HTTP server that counts calls.

A double click, a retried fetch and a second tab all post the same single-use code; several app
servers may take them at the same instant. The unique code hash decides who calls Mono.
"""

import pytest
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import LinkAttempt, LinkedAccount
from tests.concurrency.test_webhook_races import race

THREADS = 6
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_posts_of_one_code_make_one_exchange_call(user, stub_mono, procrastinate_backend):
    # procrastinate_backend: production's shape, the background job waits, it does not run here.
    stub_mono.delay = 0.5  # Mono takes its time, so every racer arrives while the first is still exchanging

    def post_code():
        client = Client()
        client.force_login(user)
        return client.post("/link/complete/", {"code": "code_1", "institution": "GTBank"}, "application/json")

    answers = race([post_code for _ in range(THREADS)])

    assert stub_mono.count("exchange") == 1
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 202}, statuses  # the rest: "pending", from the record
    attempt = LinkAttempt.objects.get()
    assert attempt.status == "linked"
    assert LinkedAccount.objects.count() == 1
    jobs = ProcrastinateJob.objects.filter(task_name="accounts.tasks.exchange_link_code")
    assert [job.args for job in jobs] == [{"attempt_id": attempt.pk}]
