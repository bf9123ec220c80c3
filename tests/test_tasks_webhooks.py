"""Follow-up tasks seen from Mono's side: the webhook answer never depends on them.

Deliveries go through the real endpoint (secret check, CSRF enforced, delivery log) with the
database task backend, and django_tasks_db's worker loop runs the queue afterwards, as db_worker would.
"""

import json

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from accounts import tasks
from monolink.mono import payloads
from webhooks.models import WebhookEvent

from .test_tasks import MONO, db_queue, real_mono, run_worker

pytestmark = pytest.mark.usefixtures("db_queue")
__all__ = ["db_queue", "real_mono"]  # fixtures shared with test_tasks


def deliver(settings, payload: dict):
    return Client(enforce_csrf_checks=True).post(
        reverse("webhooks:mono"),
        data=json.dumps(payload),
        content_type="application/json",
        headers={"mono-webhook-secret": settings.MONO_WEBHOOK_SECRET},
    )


def test_reauthorized_webhook_answers_200_though_mono_is_down_and_the_refresh_fails_visibly(
    transactional_db, settings, account, real_mono
):
    real_mono.get(f"{MONO}/v2/accounts/{account.mono_account_id}", status=503, json={"message": "down"})
    deliver(settings, payloads.reauthorisation_required(account.mono_account_id))
    run_worker()

    response = deliver(settings, payloads.account_reauthorized(account.mono_account_id))

    assert response.status_code == 200
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 2
    account.refresh_from_db()
    assert not account.reauth_required
    assert len(real_mono.calls) == 0  # the answer did not wait on Mono
    refresh = DBTaskResult.objects.get(task_path="accounts.tasks.refresh_account_details")
    assert refresh.status == "READY"

    # The worker meets Mono down on every attempt (each retry made due at once, as time passing would).
    for _ in range(tasks.REFRESH_MAX_ATTEMPTS):
        DBTaskResult.objects.filter(status="READY").update(run_after=refresh.enqueued_at)
        run_worker()

    attempts = DBTaskResult.objects.filter(task_path="accounts.tasks.refresh_account_details")
    assert attempts.count() == tasks.REFRESH_MAX_ATTEMPTS
    assert list(attempts.filter(status="FAILED").values_list("exception_class_path", flat=True)) == [
        "monolink.mono.types.MonoUnavailable"
    ]
    assert attempts.filter(status="SUCCESSFUL", return_value="retry_scheduled").count() == 4
    assert len(real_mono.calls) == tasks.REFRESH_MAX_ATTEMPTS


def test_flag_webhook_delivered_twice_and_its_task_run_twice_sends_one_email(
    transactional_db, settings, account, real_mono
):
    flag = payloads.reauthorisation_required(account.mono_account_id)
    assert deliver(settings, flag).status_code == 200
    assert deliver(settings, flag).status_code == 200  # Mono's retry: the same event_id
    # The same news again under a new event id (e.g. a later sync hit MFA again).
    assert deliver(settings, payloads.reauthorisation_required(account.mono_account_id)).status_code == 200

    notify = DBTaskResult.objects.get(task_path="accounts.tasks.follow_up_flag")
    tasks.follow_up_flag.enqueue(account.pk)  # staff re-enqueue it by hand, or a worker died mid-way
    run_worker()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [account.user.email]
    notify.refresh_from_db()
    assert notify.status == "SUCCESSFUL"
    emailed = [result["emailed"] for result in DBTaskResult.objects.values_list("return_value", flat=True)]
    assert sorted(emailed) == [False, True]
