"""The staff overview on the admin index, as an inclusion tag.

A tag rather than an AdminSite.index() override, so it composes with whichever AdminSite the
project uses (the site class also carries the staff second factor); it renders only on the index,
which the admin shows to staff only.
"""

from django import template

from staff import overview

register = template.Library()


@register.inclusion_tag("admin/staff_overview.html")
def staff_overview() -> dict:
    return overview.page_context()
