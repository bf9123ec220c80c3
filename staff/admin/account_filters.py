"""The linked-account list's filters: fixed choices, so rendering the sidebar costs no query."""

from __future__ import annotations

from django.contrib import admin
from django.core.cache import cache

from accounts.models import LinkedAccount


class ReauthStateFilter(admin.SimpleListFilter):
    title = "re-auth state"
    parameter_name = "reauth_state"

    def lookups(self, request, model_admin):
        return [
            ("flagged", "Flagged (all)"),
            ("needs_reauth", LinkedAccount.State.NEEDS_REAUTH.label),
            ("awaiting", LinkedAccount.State.AWAITING.label),
            ("ok", LinkedAccount.State.OK.label),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "flagged":
            return queryset.flagged()
        if value == "awaiting":
            return queryset.awaiting()
        if value == "needs_reauth":
            return queryset.needing_user()
        if value == "ok":
            return queryset.linked().filter(reauth_required=False)
        return queryset


class DataStatusFilter(admin.SimpleListFilter):
    # Mono's documented values; reauth.state stores them upper-cased.
    title = "data status"
    parameter_name = "data_status"

    def lookups(self, request, model_admin):
        return [(s, s.title()) for s in ("AVAILABLE", "PARTIAL", "UNAVAILABLE", "FAILED", "PROCESSING")]

    def queryset(self, request, queryset):
        return queryset.filter(data_status=self.value()) if self.value() else queryset


class InstitutionFilter(admin.SimpleListFilter):
    """Institutions are few but the table is big: the DISTINCT runs at most every few minutes."""

    title = "institution"
    parameter_name = "institution"
    cache_key = "admin:linkedaccount:institutions"
    cache_seconds = 600

    def lookups(self, request, model_admin):
        names = cache.get(self.cache_key)
        if names is None:
            names = list(
                LinkedAccount.objects.exclude(institution_name="")
                .order_by("institution_name")
                .values_list("institution_name", flat=True)
                .distinct()[:200]
            )
            cache.set(self.cache_key, names, self.cache_seconds)
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(institution_name=self.value()) if self.value() else queryset


class UnlinkedFilter(admin.SimpleListFilter):
    title = "linked"
    parameter_name = "unlinked"

    def lookups(self, request, model_admin):
        return [("no", "Linked"), ("yes", "Unlinked")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(unlinked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(unlinked_at__isnull=True)
        return queryset


class EmailReachFilter(admin.SimpleListFilter):
    """Users email can't reach (a hard bounce or a complaint, notifications.delivery): their reminders
    have stopped. The marked users are few and partially indexed (user_email_undeliverable_idx)."""

    title = "email"
    parameter_name = "email"

    def lookups(self, request, model_admin):
        return [("unreachable", "Can't be reached"), ("reachable", "Reachable")]

    def queryset(self, request, queryset):
        if self.value() == "unreachable":
            return queryset.filter(**{f"{self.user_path}email_undeliverable_at__isnull": False})
        if self.value() == "reachable":
            return queryset.filter(**{f"{self.user_path}email_undeliverable_at__isnull": True})
        return queryset

    user_path = "user__"  # from a linked account; UserEmailReachFilter filters users themselves


class UserEmailReachFilter(EmailReachFilter):
    user_path = ""
