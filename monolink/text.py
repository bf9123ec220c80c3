"""Words for people: counts with the right plural, durations in plain units, one date format."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.formats import date_format


def count_noun(n: int, singular: str, plural: str | None = None) -> str:
    """1 → '1 account', 3 → '3 accounts', 1200 → '1,200 accounts' (irregular plurals given)."""
    word = singular if n == 1 else (plural or f"{singular}s")
    return f"{n:,} {word}"


def duration(value: timedelta | None) -> str:
    """A span as people say it, in its two largest units: '45 s', '12 min', '3 h 5 min', '2 days 4 h'."""
    if value is None:
        return "—"
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{count_noun(days, 'day')} {hours} h" if hours else count_noun(days, "day")
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def when(value: datetime | None) -> str:
    """Every date staff read in one format (monolink/formats: '23 Nov 2026, 14:05'), local time."""
    return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "-"


def plain_words(value: str) -> str:
    """One of Mono's enum values as words: 'PERSONAL_BANKING' → 'Personal banking'; '' → '-'."""
    return value.replace("_", " ").strip().capitalize() if value else "-"
