"""'Forgot password?': Django's reset flow, the email's link from SITE_URL, the throttle, and the email
sent from the mail queue (the request itself never talks to the mail server).

The test settings run queued jobs in-process once the transaction commits; a test's transaction never
commits, so `django_capture_on_commit_callbacks(execute=True)` runs the request's jobs where a test
reads the email."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import PasswordResetRequest

RESET_URL = reverse("password_reset")


def ask(client, email, ip="203.0.113.5"):
    return client.post(RESET_URL, {"email": email}, REMOTE_ADDR=ip)


def test_sign_in_page_links_to_password_reset(client, db):
    assert f'href="{RESET_URL}"' in client.get(reverse("login")).text


def test_reset_email_links_to_site_url_not_to_the_requests_host(
    client, user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://app.monolink.example"
    settings.ALLOWED_HOSTS = ["evil.example", "testserver"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(RESET_URL, {"email": "ADA@example.com"}, HTTP_HOST="evil.example")

    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    (email,) = mailoutbox
    assert email.to == ["ada@example.com"] and email.subject == "Reset your monolink password"
    link = re.search(r"https?://\S+", email.body).group(0)
    assert link.startswith("https://app.monolink.example/accounts/reset/") and "evil.example" not in email.body


def test_the_emailed_link_sets_a_new_password(client, user, mailoutbox, settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "http://testserver"
    with django_capture_on_commit_callbacks(execute=True):
        ask(client, user.email)
    path = re.search(r"http://testserver(\S+)", mailoutbox[0].body).group(1)
    form_url = client.get(path, follow=True).redirect_chain[-1][0]  # Django swaps the token for a session key
    response = client.post(form_url, {"new_password1": "a-new-pw-for-ada-7", "new_password2": "a-new-pw-for-ada-7"})

    assert response.status_code == 302 and response.url == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("a-new-pw-for-ada-7")


def test_unknown_email_sees_the_same_page_and_gets_nothing(client, db, mailoutbox):
    response = ask(client, "nobody@example.com")

    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert mailoutbox == []


def test_a_fourth_request_for_one_address_within_the_hour_is_refused_and_sends_nothing(
    client, user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            assert ask(client, user.email, ip=f"203.0.113.{n}").status_code == 302
        response = ask(client, "  Ada@Example.com ", ip="203.0.113.99")  # same address, other case, other IP

    assert response.status_code == 429
    assert "Too many reset requests" in response.text
    assert len(mailoutbox) == 3


def test_one_ip_asking_for_many_addresses_is_refused_after_the_limit(client, db, settings):
    settings.PASSWORD_RESET_THROTTLE = {**settings.PASSWORD_RESET_THROTTLE, "per_ip": 2}
    assert ask(client, "a@example.com").status_code == 302
    assert ask(client, "b@example.com").status_code == 302
    assert ask(client, "c@example.com").status_code == 429
    assert ask(client, "c@example.com", ip="198.51.100.1").status_code == 302  # another client is not blocked


def test_behind_the_trusted_proxy_each_client_address_has_its_own_count(db, settings):
    settings.FORWARDED_ALLOW_IPS = ["10.1.0.0/16"]
    settings.PASSWORD_RESET_THROTTLE = {**settings.PASSWORD_RESET_THROTTLE, "per_ip": 2}
    proxy = {"REMOTE_ADDR": "10.1.0.2"}
    for email in ("a@example.com", "b@example.com"):
        assert Client(**proxy, HTTP_X_FORWARDED_FOR="203.0.113.9").post(RESET_URL, {"email": email}).status_code == 302
    # A forged hop left of the proxy's changes nothing: the proxy appended the real one.
    forged = Client(**proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")

    assert forged.post(RESET_URL, {"email": "c@example.com"}).status_code == 429
    someone_else = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert someone_else.post(RESET_URL, {"email": "c@example.com"}).status_code == 302
    assert set(PasswordResetRequest.objects.values_list("ip", flat=True)) == {"203.0.113.9", "198.51.100.20"}


def test_requests_older_than_the_window_do_not_count_and_old_rows_are_removed(
    client, user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            ask(client, user.email)
    PasswordResetRequest.objects.update(requested_at=timezone.now() - timedelta(days=2))

    with django_capture_on_commit_callbacks(execute=True):
        assert ask(client, user.email).status_code == 302
    assert len(mailoutbox) == 4
    assert PasswordResetRequest.objects.count() == 1  # the two-day-old rows are gone


def test_no_email_address_is_stored(client, user):
    ask(client, user.email)
    row = PasswordResetRequest.objects.get()
    assert user.email not in row.email_digest and len(row.email_digest) == 64


@pytest.mark.parametrize("email", ["", "not-an-email"])
def test_bad_email_is_a_field_error_and_records_nothing(client, db, email):
    response = ask(client, email)
    assert response.status_code == 200 and 'class="field-error"' in response.text
    assert not PasswordResetRequest.objects.exists()


# --- the email goes through the mail queue: the answer does not tell who has an account ----------------


def answer(response) -> tuple:
    return response.status_code, response.get("Location"), response.content, sorted(response.headers)


def test_known_and_unknown_addresses_get_the_same_answer_and_the_request_sends_no_email(
    user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as known_jobs:
        known = ask(Client(), user.email, ip="203.0.113.1")
    with django_capture_on_commit_callbacks() as unknown_jobs:
        unknown = ask(Client(), "nobody@example.com", ip="203.0.113.2")

    assert mailoutbox == []  # no mail server was spoken to while either request ran
    assert (len(known_jobs), len(unknown_jobs)) == (1, 0)  # one job queued for the account, none otherwise
    assert answer(known) == answer(unknown)
    assert known.status_code == 302 and known["Location"] == reverse("password_reset_done")

    known_jobs[0]()  # the mail worker runs the job
    (email,) = mailoutbox
    assert email.to == [user.email] and "/accounts/reset/" in email.body


@pytest.mark.postgres
def test_the_job_is_on_the_mail_queue_and_carries_the_user_id_only(user, procrastinate_backend, settings):
    from procrastinate.contrib.django.models import ProcrastinateJob

    ask(Client(), user.email, ip="203.0.113.1")
    ask(Client(), "nobody@example.com", ip="203.0.113.2")

    (job,) = ProcrastinateJob.objects.all()
    assert (job.task_name, job.queue_name, job.args) == (
        "notifications.tasks.send_password_reset_email",
        "mail",
        {"user_id": user.pk},
    )


def test_an_account_deactivated_before_the_job_runs_gets_no_link(user, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as jobs:
        ask(Client(), user.email)
    user.is_active = False
    user.save()

    jobs[0]()

    assert mailoutbox == []


@pytest.mark.postgres
def test_a_worker_sends_the_reset_email_through_a_mail_server_saying_451_and_its_link_works(
    workers, smtp_sink, user, procrastinate_backend
):
    from tests.workers_support import wait_for

    sink = smtp_sink(["451", "451"])  # greylisted twice, as a busy mail server does
    workers.start(sink, queues="mail")

    assert ask(Client(), user.email).status_code == 302

    wait_for(lambda: len(sink.received) == 1, timeout=60, what="the retried reset email")
    assert sink.attempts == 3
    path = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", sink.received[0]).group(1)
    client = Client()
    form_url = client.get(path, follow=True).redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "a-new-pw-for-ada-7", "new_password2": "a-new-pw-for-ada-7"})
    assert response.status_code == 302 and response.url == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("a-new-pw-for-ada-7")
