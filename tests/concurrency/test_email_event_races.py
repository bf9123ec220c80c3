"""Racing copies of one email provider event against PostgreSQL: real threads, released together.

Providers retry, and several app servers share one database: the unique (provider, event id,
recipient) must keep an event once when its copies arrive at the same instant, not just in turn.
"""

import pytest
from django.utils import timezone

from accounts.models import EmailEvent, Notification
from tests.concurrency.test_webhook_races import THREADS, race
from tests.email_support import MAILGUN_SIGNING_KEY, MESSAGE_IDS, post_event

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.email_tracking_urls"),
]


@pytest.mark.parametrize("provider", ["postmark", "mailgun"])
def test_concurrent_copies_of_one_bounce_are_recorded_once(provider, account, user, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY}
    notification = Notification.objects.create(
        account=account, flagged_at=timezone.now(), step=0, sent_at=timezone.now(), message_id=MESSAGE_IDS[provider]
    )

    answers = race([lambda: post_event(provider, "bounced") for _ in range(THREADS)])

    assert [a.status_code for a in answers] == [200] * THREADS  # duplicates are acknowledged, not retried
    assert EmailEvent.objects.count() == 1
    notification.refresh_from_db()
    assert notification.delivery_status == "bounced"
    user.refresh_from_db()
    assert not user.email_reachable
