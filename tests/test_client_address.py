"""One client-address rule (monolink/client_address.py) for the sign-in lockout, the reset throttle,
the webhook log and the proxy gate: listed proxies are skipped from the right of X-Forwarded-For,
"*" counts FORWARDED_PROXY_HOPS instead, and a client is never the proxy's own address."""

import pytest
from django.test import Client, RequestFactory

from accounts.models import PasswordResetRequest
from monolink.client_address import client_ip, parse
from webhooks.models import WebhookEvent

from .test_password_reset import RESET_URL
from .test_security import LOGIN, PASSWORD, fail_sign_in, is_signed_in
from .webhooks_support import post, raw

PROXY = "10.0.0.2"  # the platform's proxy: every request reaches gunicorn from here


def ip_of(peer: str, forwarded: str | None = None) -> str | None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=peer, **extra))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9:52100 ", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("unknown", None),
        ("999.1.1.1", None),
        ("", None),
        (None, None),
    ],
)
def test_an_address_is_read_without_its_port_or_zone(value, expected):
    address = parse(value)
    assert (str(address) if address else None) == expected


def test_an_untrusted_peer_is_the_client_whatever_it_forwards(settings):
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1"]

    assert ip_of("203.0.113.9", "198.51.100.20") == "203.0.113.9"
    assert ip_of("") is None  # a unix socket with nothing in front: no address to count


def test_listed_proxies_are_skipped_from_the_right_and_the_first_other_hop_is_the_client(settings):
    settings.FORWARDED_ALLOW_IPS = ["10.1.0.0/16", "127.0.0.1"]

    assert ip_of("10.1.2.3", "198.51.100.1, 203.0.113.9") == "203.0.113.9"  # the left hop is forged
    assert ip_of("127.0.0.1", "203.0.113.9, 10.1.0.7") == "203.0.113.9"  # two proxies in a row
    assert ip_of("10.1.2.3", "garbage, 203.0.113.9") == "203.0.113.9"
    assert ip_of("10.1.2.3", "198.51.100.1, garbage, 10.1.0.7") == "10.1.0.7"  # the walk stops at garbage
    assert ip_of("10.1.2.3") == "10.1.2.3"  # a direct request from the proxy's own network


def test_a_client_inside_a_trusted_network_is_itself_not_the_proxy(settings):
    # Staff on the VPN (10.20.0.0/16) come in through the proxy like everyone else: when every hop
    # is trusted, the left-most is the client, never the peer (which would make them all one).
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.0/8"]

    assert ip_of(PROXY, "10.20.0.5") == "10.20.0.5"
    assert ip_of(PROXY, "10.20.0.6, 10.0.0.9") == "10.20.0.6"


def test_with_a_star_the_client_is_the_configured_number_of_hops_from_the_right(settings):
    settings.FORWARDED_ALLOW_IPS = ["*"]
    settings.FORWARDED_PROXY_HOPS = 1

    assert ip_of(PROXY, "198.51.100.20, 203.0.113.9") == "203.0.113.9"
    assert ip_of(PROXY, "10.20.0.5") == "10.20.0.5"
    assert ip_of(PROXY) == PROXY  # no header at all: only the peer is known
    assert ip_of("", "203.0.113.9") == "203.0.113.9"  # gunicorn on a unix socket: the peer has no address

    settings.FORWARDED_PROXY_HOPS = 2  # a CDN, then the platform's load balancer
    assert ip_of(PROXY, "198.51.100.20, 203.0.113.9, 172.16.0.4") == "203.0.113.9"
    assert ip_of(PROXY, "203.0.113.9") == "203.0.113.9"  # came in past the CDN: fewer hops than proxies


def test_with_a_star_an_attacker_cannot_lock_out_a_user_at_another_address(user, settings):
    settings.FORWARDED_ALLOW_IPS = ["*"]
    attacker = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.20, 203.0.113.9")  # forges the victim's
    fail_sign_in(attacker, settings.AXES_FAILURE_LIMIT)

    victim = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.20")
    victim.post(LOGIN, {"username": "ada", "password": PASSWORD})

    assert is_signed_in(victim)
    assert attacker.post(LOGIN, {"username": "ada", "password": PASSWORD}).status_code == 429


def test_with_a_star_the_reset_throttle_counts_each_client(db, settings):
    settings.FORWARDED_ALLOW_IPS = ["*"]
    settings.PASSWORD_RESET_THROTTLE = {**settings.PASSWORD_RESET_THROTTLE, "per_ip": 2}
    one = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    other = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.20")

    assert [one.post(RESET_URL, {"email": f"{n}@example.com"}).status_code for n in "abc"] == [302, 302, 429]
    assert other.post(RESET_URL, {"email": "d@example.com"}).status_code == 302
    assert set(PasswordResetRequest.objects.values_list("ip", flat=True)) == {"203.0.113.9", "198.51.100.20"}


def test_with_a_network_listed_each_client_inside_it_has_its_own_lockout(user, settings):
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.0/8"]
    fail_sign_in(Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.20.0.5"), settings.AXES_FAILURE_LIMIT)

    colleague = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.20.0.6")
    colleague.post(LOGIN, {"username": "ada", "password": PASSWORD})

    assert is_signed_in(colleague)


def test_the_webhook_log_records_the_client_by_the_same_rule(db, settings):
    settings.FORWARDED_ALLOW_IPS = ["*"]  # the test client's peer is the proxy

    post(raw("reauthorisation_required.v1"), headers={"X-Forwarded-For": "198.51.100.20, 203.0.113.9"})

    assert WebhookEvent.objects.get().remote_ip == "203.0.113.9"  # not the forged first hop
