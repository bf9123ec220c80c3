"""Words shown to people: plurals, durations, money."""

from datetime import timedelta

import pytest

from monolink.templatetags.money import minor_units
from monolink.text import count_noun, duration


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "0 accounts"), (1, "1 account"), (2, "2 accounts"), (1200, "1,200 accounts")],
)
def test_count_noun_uses_the_singular_only_for_one(n, expected):
    assert count_noun(n, "account") == expected


def test_count_noun_takes_an_irregular_plural():
    assert count_noun(1, "delivery", "deliveries") == "1 delivery"
    assert count_noun(15, "delivery", "deliveries") == "15 deliveries"


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=12, seconds=30), "12 min"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(days=1), "1 day"),
        (timedelta(days=2, hours=4, minutes=9), "2 days 4 h"),
        (None, "—"),
    ],
)
def test_duration_reads_in_its_two_largest_units(span, expected):
    assert duration(span) == expected


@pytest.mark.parametrize(
    ("kobo", "currency", "expected"),
    [
        (359342871, "NGN", "₦3,593,428.71"),
        (5, "NGN", "₦0.05"),
        (-150, "", "-₦1.50"),
        (100, "USD", "USD 1.00"),
        (None, "NGN", "—"),
    ],
)
def test_money_is_shown_from_minor_units(kobo, currency, expected):
    assert minor_units(kobo, currency) == expected
