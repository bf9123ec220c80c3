"""Admin URL filters that would read a secret one character at a time, refused with 400 for everyone.

Django's admin lets anyone who may view a list filter it by any field of its own model
(`?key__startswith=a`, then `ab`, …): each answer says whether a row matched, so a view-only staff
member recovers a secret column in a few hundred requests without ever seeing it. Django's own
UserAdmin refuses `password` lookups the same way; every ModelAdmin over a secret column lists its
columns here.
"""

from __future__ import annotations


class SecretLookupsRefused:
    """Mix into a ModelAdmin: any lookup on a field in `secret_lookups` (exact, `__startswith`,
    `__regex`, a transform…) is refused, which the changelist answers with 400."""

    secret_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup, value, request=None):
        if any(lookup == name or lookup.startswith(name + "__") for name in self.secret_lookups):
            return False
        return super().lookup_allowed(lookup, value, request)
