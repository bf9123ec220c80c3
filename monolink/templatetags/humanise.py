from django import template

from monolink import text

register = template.Library()


@register.simple_tag
def count_noun(n: int, singular: str, plural: str = "") -> str:
    return text.count_noun(n, singular, plural or None)


@register.filter
def duration(value) -> str:
    return text.duration(value)
