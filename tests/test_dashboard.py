"""The dashboard's one-time "<Bank> reconnected" notice and the sandbox's copyable command."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.models import User

DASHBOARD = reverse("web:dashboard")


def notices(client) -> list[str]:
    response = client.get(DASHBOARD)
    return [
        m.split("</span> ", 1)[1].split("</div>")[0]
        for m in response.text.split('data-testid="reconnected-notice">')[1:]
    ]


def test_a_cleared_flag_is_announced_once_then_never_again(signed_in, make_account):
    make_account(institution_name="Access Bank", account_number_masked="******1234", reauth_completed_at=timezone.now())

    assert notices(signed_in) == ["Access Bank ******1234 reconnected. Fresh data flows again."]
    assert notices(signed_in) == []


def test_the_notice_is_not_repeated_on_another_device(client, user, make_account):
    make_account(reauth_completed_at=timezone.now())
    client.force_login(user)
    assert len(notices(client)) == 1
    client.logout()
    client.force_login(user)  # a new session, as on a second device
    assert notices(client) == []


def test_no_notice_while_still_flagged_or_for_an_old_reconnection(signed_in, make_account):
    make_account(reauth_required=True, reauth_completed_at=timezone.now())  # flagged again since
    make_account(reauth_completed_at=timezone.now() - timedelta(days=8))  # long ago
    assert notices(signed_in) == []


def test_a_reconnection_after_the_last_notice_gets_its_own(signed_in, user, make_account):
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(days=30))
    make_account(institution_name="GTBank", reauth_completed_at=timezone.now() - timedelta(minutes=5))
    assert len(notices(signed_in)) == 1
    make_account(institution_name="Kuda", reauth_completed_at=timezone.now())

    assert [n.split(" ")[0] for n in notices(signed_in)] == ["Kuda"]
    assert User.objects.get(pk=user.pk).reconnections_seen_at is not None


def test_another_users_reconnection_is_not_announced(signed_in, make_account, other_user):
    make_account(user=other_user, reauth_completed_at=timezone.now())
    assert notices(signed_in) == []


def test_sandbox_command_has_a_copy_button_and_only_for_a_working_link(signed_in, make_account, settings):
    settings.MONO_SANDBOX = True
    ok = make_account()
    flagged = make_account(reauth_required=True)
    body = signed_in.get(DASHBOARD).text

    assert f'<code id="break-{ok.pk}" tabindex="0">' in body and f'data-copy="#break-{ok.pk}"' in body
    assert f"--account {flagged.mono_account_id}" not in body  # already broken: nothing to break
    assert "js/copy-button.js" in body


def test_flagged_accounts_come_first_and_unlinked_last(signed_in, make_account):
    now = timezone.now()
    make_account(institution_name="Access Bank")
    make_account(institution_name="Zenith Bank", reauth_required=True, reauth_requested_at=now)
    make_account(institution_name="Abbey", reauth_required=True, unlinked_at=now)
    page = signed_in.get(reverse("web:dashboard")).content.decode()
    order = [page.index(f"{bank}\n") for bank in ("Zenith Bank", "Access Bank", "Abbey")]
    assert order == sorted(order)


def test_a_flagged_accounts_figures_say_how_old_they_are(signed_in, make_account):
    as_of = timezone.now() - timedelta(days=2)
    make_account(institution_name="Zenith Bank", reauth_required=True, reauth_requested_at=as_of, details_as_of=as_of)
    make_account(institution_name="Access Bank", details_as_of=as_of)
    page = signed_in.get(reverse("web:dashboard")).content.decode()
    stamp = f"as of {timezone.localtime(as_of):%-d %b, %H:%M}"
    assert page.count(stamp) == 2  # the flagged account's balance and data status; not the working one's


def test_the_dashboards_notices_sit_together_before_the_heading(signed_in, make_account):
    page = signed_in.get(reverse("web:dashboard")).content.decode()
    notices = page.index('class="notices"')
    assert notices < page.index('id="widget-status"') < page.index("<h1>Your bank accounts</h1>")
