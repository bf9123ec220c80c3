"""What a bounce changes, for people: reminders stop, staff see the user can't be reached (account
page, list filter, overview), the dashboard asks the user to check their address, and a new address
in the admin's user form lifts the mark. Bounces arrive through the site's own tracking endpoint
(the sandbox's, in Postmark's format), as they would from the provider.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import LinkedAccount, Notification
from notifications import email, schedule
from notifications import tasks as notification_tasks
from reauth import state

from .email_support import post_event

DAY = timedelta(days=1)


@pytest.fixture
def flagged_and_emailed(account, django_capture_on_commit_callbacks):
    """Ada's account flagged, its first email sent (in-process, as the webhook's job would) under
    Postmark's message id, so the payload files' events are about it."""
    with django_capture_on_commit_callbacks(execute=True):
        state.flag_for_reauth(mono_account_id=account.mono_account_id)
        notification_tasks.queue_reauth_email(mono_account_id=account.mono_account_id)
    Notification.objects.update(message_id="883953f4-6105-42a2-a16a-77a8eac79483")
    return account


def a_day_later(account: LinkedAccount) -> None:
    account.refresh_from_db()
    old = account.reauth_requested_at
    LinkedAccount.objects.filter(pk=account.pk).update(reauth_requested_at=old - DAY)
    Notification.objects.filter(account=account).update(flagged_at=old - DAY)


@pytest.mark.parametrize("kind", ["bounced", "complained"])
def test_after_a_hard_bounce_or_complaint_no_reminder_is_due_or_sent(kind, flagged_and_emailed, user):
    account = flagged_and_emailed
    assert post_event("postmark", kind).status_code == 200
    a_day_later(account)

    assert schedule.due_emails(now=timezone.now(), limit=10) == []
    assert email.send_due_email(mono_account_id=account.mono_account_id, step=1) == "unreachable"
    assert len(mail.outbox) == 1  # the first email only
    assert list(Notification.objects.values_list("step", flat=True)) == [0]


def test_a_soft_bounce_keeps_the_reminders_coming(flagged_and_emailed):
    post_event("postmark", "soft_bounced")
    a_day_later(flagged_and_emailed)

    assert [due.step for due in schedule.due_emails(now=timezone.now(), limit=10)] == [1]


def post_user_form(admin_client, user, **changes):
    """Save Ada's page in the admin's user form, as staff would, with some fields changed."""
    change_url = reverse("admin:accounts_user_change", args=[user.pk])
    form = admin_client.get(change_url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.pop("password", None)
    joined = timezone.localtime(user.date_joined)
    data.update({"date_joined_0": joined.strftime("%d/%m/%Y"), "date_joined_1": joined.strftime("%H:%M:%S")})
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.update(changes)
    return admin_client.post(change_url, data)


def test_a_new_address_in_the_admin_lifts_the_mark_and_the_due_reminder_goes_to_it(
    admin_client, flagged_and_emailed, user, django_capture_on_commit_callbacks
):
    post_event("postmark", "bounced")
    a_day_later(flagged_and_emailed)

    response = post_user_form(admin_client, user, email="ada.new@example.com")

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user.refresh_from_db()
    assert (user.email, user.email_reachable, user.email_undeliverable_reason) == ("ada.new@example.com", True, "")
    with django_capture_on_commit_callbacks(execute=True):
        notification_tasks.reconcile()
    assert mail.outbox[-1].to == ["ada.new@example.com"]
    assert mail.outbox[-1].subject.startswith("Reminder:")


def test_saving_the_user_form_without_changing_the_address_keeps_the_mark(admin_client, flagged_and_emailed, user):
    post_event("postmark", "bounced")

    response = post_user_form(admin_client, user, first_name="Ada")

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user.refresh_from_db()
    assert user.first_name == "Ada"
    assert not user.email_reachable


def test_staff_see_who_email_cant_reach_on_the_account_page_the_list_filter_and_the_overview(
    admin_client, flagged_and_emailed, make_account, other_user
):
    reachable = make_account(user=other_user)
    post_event("postmark", "bounced")

    page = admin_client.get(reverse("admin:accounts_linkedaccount_change", args=[flagged_and_emailed.pk]))
    assert "Can't be reached by email" in page.content.decode()
    assert "Reminders have stopped" in page.content.decode()

    listed = admin_client.get(reverse("admin:accounts_linkedaccount_changelist") + "?email=unreachable")
    assert list(listed.context["cl"].result_list) == [flagged_and_emailed]
    everyone = admin_client.get(reverse("admin:accounts_linkedaccount_changelist") + "?email=reachable")
    assert list(everyone.context["cl"].result_list) == [reachable]

    index = admin_client.get(reverse("admin:index")).content.decode()
    assert '<strong data-count="unreachable">1</strong> users email can\'t reach' in index
    users = admin_client.get(reverse("admin:accounts_user_changelist") + "?email=unreachable")
    assert [u.username for u in users.context["cl"].result_list] == ["ada"]


def test_the_dashboard_asks_a_user_email_cant_reach_to_check_their_address(signed_in, flagged_and_emailed):
    assert "Please check your email address" not in signed_in.get("/").content.decode()

    post_event("postmark", "complained")

    page = signed_in.get("/").content.decode()
    assert "Please check your email address" in page
    assert "ada@example.com" in page


def test_a_provider_refusing_the_address_marks_it_and_ends_the_job_without_retrying(
    account, settings, django_capture_on_commit_callbacks, user
):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "test-server-token"}
    with responses.RequestsMock() as mocked:
        mocked.post(
            "https://api.postmarkapp.com/email",
            status=422,
            json={  # Postmark's answer for an address it suppressed after a hard bounce or complaint
                "ErrorCode": 406,
                "Message": "You tried to send to a recipient that has been marked as inactive.\n"
                "Found inactive addresses: ada@example.com.\n"
                "Inactive recipients are ones that have generated a hard bounce or a spam complaint. ",
            },
        )
        with django_capture_on_commit_callbacks(execute=True):
            state.flag_for_reauth(mono_account_id=account.mono_account_id)
        outcome = email.send_due_email(mono_account_id=account.mono_account_id, step=0)

    assert outcome == "refused"
    user.refresh_from_db()
    assert not user.email_reachable
    assert not Notification.objects.exists()  # nothing was sent: a new address gets this email


def test_mail_event_sends_a_fake_bounce_through_the_running_servers_endpoint(
    live_server, settings, flagged_and_emailed, user, capsys
):
    settings.SITE_URL = live_server.url
    notification = Notification.objects.get()

    call_command("mail_event", "bounced", "--notification", str(notification.pk))

    out = capsys.readouterr().out
    assert "200" in out and "can't be reached by email now" in out
    user.refresh_from_db()
    assert not user.email_reachable
    assert Notification.objects.get().delivery_status == "bounced"


def test_mail_event_refuses_outside_the_sandbox_and_debug(settings, flagged_and_emailed):
    settings.MONO_SANDBOX = False
    settings.DEBUG = False

    with pytest.raises(CommandError, match="a fake bounce would stop a real user's emails"):
        call_command("mail_event", "bounced", "--email", "ada@example.com")
