"""A bank's mark on the pages: its initials in a coloured badge (we hold no logos)."""

import hashlib

from django import template

register = template.Library()

MARK_COLOURS = 6  # .bank-mark-0 … .bank-mark-5 in monolink.css (classes: the CSP allows no inline style)
_SMALL_WORDS = {"of", "for", "and", "the", "plc", "ltd"}


@register.filter
def bank_initials(name: str) -> str:
    """'United Bank for Africa' → 'UBA', 'GTBank' → 'GTB', 'Kuda Bank' → 'KB', '' → '?'."""
    words = [w for w in (name or "").split() if w.lower() not in _SMALL_WORDS and w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        capitals = [c for c in words[0] if c.isupper() or c.isdigit()]
        return "".join(capitals[:3]) if len(capitals) >= 2 else words[0][:2].upper()
    return "".join(w[0] for w in words[:3]).upper()


@register.filter
def bank_mark_class(name: str) -> str:
    """The same bank gets the same colour on every page and server."""
    digest = hashlib.sha256((name or "").encode()).digest()
    return f"bank-mark-{digest[0] % MARK_COLOURS}"
