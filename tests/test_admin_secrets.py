"""Secrets staff must not read through the admin (issue 22, items 2 and 3): a colleague's
authenticator seed, and a pending link code. Each test is the attack a view-only staff member made."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import LinkAttempt, User
from linking import tasks as link_tasks
from linking.exchange import CODE_EXPIRED, code_hash

PENDING_CODE = "code_live_ABCDEFGHIJKLMNOP"


def staff_client(username: str, *codenames: str, superuser: bool = False) -> Client:
    member = User.objects.create_user(username, is_staff=True, is_superuser=superuser)
    member.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def root_device(db) -> TOTPDevice:
    root = User.objects.create_user("root", password="pw-root-12345", is_staff=True, is_superuser=True)
    call_command("enrol_totp", "root", "--no-qr", stdout=io.StringIO())
    return TOTPDevice.objects.get(user=root)


def seed_forms(device: TOTPDevice) -> list[str]:
    """Every way the seed can be written on a page: hex, base32 (inside otpauth://) and the URL."""
    from base64 import b32encode

    return [device.key, b32encode(device.bin_key).decode().rstrip("="), "otpauth://"]


# --- item 2: authenticator seeds --------------------------------------------------------------------


def test_a_view_only_staff_member_sees_who_has_a_device_but_never_its_seed(root_device):
    viewer = staff_client("viewer", "view_totpdevice")
    pk = root_device.pk
    pages = [
        viewer.get(reverse("admin:otp_totp_totpdevice_changelist")),
        viewer.get(reverse("admin:otp_totp_totpdevice_change", args=[pk])),
        viewer.get(f"/admin/otp_totp/totpdevice/{pk}/config/", follow=True),  # django-otp's seed pages
        viewer.get(f"/admin/otp_totp/totpdevice/{pk}/qrcode/", follow=True),
    ]

    assert [p.status_code for p in pages[:2]] == [200, 200]
    assert "root" in pages[0].text and "authenticator app" in pages[1].text  # the list is still useful
    for page in pages:
        assert page["Content-Type"].startswith("text/html")  # django-otp's answered the QR code as an SVG
        assert not any(secret in page.content.decode() for secret in seed_forms(root_device)), page.request


def test_not_even_a_superuser_reads_a_seed_in_the_admin(root_device):
    root = Client()
    root.force_login(root_device.user)

    page = root.get(reverse("admin:otp_totp_totpdevice_change", args=[root_device.pk])).content.decode()

    assert not any(secret in page for secret in seed_forms(root_device))


def test_filtering_devices_by_their_key_is_refused(root_device):
    viewer = staff_client("viewer", "view_totpdevice")
    url = reverse("admin:otp_totp_totpdevice_changelist")
    probes = [
        {"key__startswith": root_device.key[:1]},
        {"key": root_device.key},
        {"key__regex": "^[0-9a-f]"},
        {"user__password__startswith": "md5"},
    ]

    assert [viewer.get(url, probe).status_code for probe in probes] == [400, 400, 400, 400]
    assert viewer.get(url, {"confirmed__exact": "1"}).status_code == 200


def test_devices_are_not_added_or_edited_in_admin_and_only_a_superuser_deletes_one(root_device):
    editor = staff_client("editor", "view_totpdevice", "add_totpdevice", "change_totpdevice", "delete_totpdevice")
    delete_url = reverse("admin:otp_totp_totpdevice_delete", args=[root_device.pk])

    assert editor.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403  # the add form showed a key
    change_url = reverse("admin:otp_totp_totpdevice_change", args=[root_device.pk])
    assert editor.post(change_url, {"name": "x"}).status_code == 403
    assert editor.post(delete_url, {"post": "yes"}).status_code == 403
    assert TOTPDevice.objects.filter(pk=root_device.pk).exists()

    superuser = staff_client("admin2", superuser=True)
    assert superuser.post(delete_url, {"post": "yes"}).status_code == 302
    assert not TOTPDevice.objects.filter(pk=root_device.pk).exists()  # enrol_totp can issue a new one


# --- item 3: pending link codes ---------------------------------------------------------------------


@pytest.fixture
def pending_attempt(user) -> LinkAttempt:
    return LinkAttempt.objects.create(user=user, code=PENDING_CODE, code_hash=code_hash(PENDING_CODE))


def test_link_attempts_cannot_be_filtered_by_their_code(pending_attempt):
    viewer = staff_client("viewer", "view_linkattempt", "view_user")
    url = reverse("admin:accounts_linkattempt_changelist")
    probes = [
        {"code__startswith": "code_live_A"},  # the 222-request attack, one character at a time
        {"code": PENDING_CODE},
        {"code__regex": "^code"},
        {"code_hash__startswith": pending_attempt.code_hash[:2]},
        {"code__isnull": "False"},
    ]

    assert [viewer.get(url, probe).status_code for probe in probes] == [400] * 5
    # Nor through the users' list, across the relation.
    users = reverse("admin:accounts_user_changelist")
    assert viewer.get(users, {"link_attempts__code__startswith": "c"}).status_code == 400
    assert viewer.get(url).status_code == 200


def test_a_pending_code_is_not_on_any_admin_page(pending_attempt):
    viewer = staff_client("viewer", "view_linkattempt")

    pages = [
        viewer.get(reverse("admin:accounts_linkattempt_changelist")),
        viewer.get(reverse("admin:accounts_linkattempt_change", args=[pending_attempt.pk])),
        viewer.get(reverse("admin:accounts_linkattempt_changelist"), {"q": "code_live"}),
    ]

    assert [p.status_code for p in pages] == [200, 200, 200]
    assert not any(PENDING_CODE in p.content.decode() or pending_attempt.code_hash in p.content.decode() for p in pages)


def test_a_pending_attempt_whose_job_is_gone_loses_its_code_once_it_expired(user, settings):
    old = timezone.now() - settings.MONO_LINK_CODE_LIFETIME - timedelta(seconds=settings.MONO_TASK_DEADLINE + 61)
    abandoned = LinkAttempt.objects.create(user=user, code="code-abandoned", code_hash=code_hash("code-abandoned"))
    in_flight = LinkAttempt.objects.create(user=user, code="code-in-flight", code_hash=code_hash("code-in-flight"))
    fresh = LinkAttempt.objects.create(user=user, code="code-fresh", code_hash=code_hash("code-fresh"))
    LinkAttempt.objects.filter(pk__in=[abandoned.pk, in_flight.pk]).update(created_at=old)
    # Someone holds a live lease on this one: its Mono call may still answer.
    LinkAttempt.objects.filter(pk=in_flight.pk).update(exchanging_until=timezone.now() + timedelta(seconds=30))

    outcome = link_tasks.expire_link_codes(timestamp=0)  # the periodic job, as a worker runs it

    abandoned.refresh_from_db()
    assert outcome == "expired=1"
    assert (abandoned.status, abandoned.code, abandoned.error) == ("failed", None, CODE_EXPIRED)
    assert LinkAttempt.objects.get(pk=in_flight.pk).code == "code-in-flight"
    assert LinkAttempt.objects.get(pk=fresh.pk).code == "code-fresh"  # still within its lifetime: its job retries
