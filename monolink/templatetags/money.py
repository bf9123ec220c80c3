from decimal import Decimal

from django import template

register = template.Library()

SYMBOLS = {"NGN": "₦", "": "₦"}  # Mono's accounts are Nigerian unless they say otherwise


@register.filter
def minor_units(amount: int | None, currency: str = "") -> str:
    """12345667 kobo → '₦123,456.67'; an unknown amount is shown as an em dash, never as ₦0.00."""
    if amount is None:
        return "—"
    symbol = SYMBOLS.get((currency or "").upper(), f"{currency.upper()} ")
    value = Decimal(int(amount)) / 100
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.2f}"
