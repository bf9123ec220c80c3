"""Read-only records: users, what came of each widget code, and every email sent about a broken link."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import LinkAttempt, Notification, User

from .lists import FastListMixin
from .secrets import SecretLookupsRefused


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    # Plain multiple selects: Django's two-pane widget puts ARIA on elements that may not carry it, and
    # the split date and time inputs have no labels (axe); nobody edits when a user signed in or joined.
    filter_horizontal = ()
    readonly_fields = ("last_login", "date_joined")


@admin.register(LinkAttempt)
class LinkAttemptAdmin(SecretLookupsRefused, admin.ModelAdmin):
    """Read-only: what came of each widget code. The code itself is never shown, not even masked, and
    never filtered on (?code__startswith=… would read a pending code one character at a time)."""

    list_display = ["created_at", "user", "institution_name", "status", "mono_account_id", "error"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["mono_account_id", "user__username", "user__email"]
    fields = ["user", "institution_name", "status", "mono_account_id", "error", "created_at", "updated_at"]
    readonly_fields = fields
    secret_lookups = ("code", "code_hash", "user__password")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NotificationStepFilter(admin.SimpleListFilter):
    title = "email"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("first", "First emails"), ("reminder", "Reminders")]

    def queryset(self, request, queryset):
        if self.value() == "first":
            return queryset.filter(step=0)
        if self.value() == "reminder":
            return queryset.filter(step__gt=0)
        return queryset


@admin.register(Notification)
class NotificationAdmin(FastListMixin, admin.ModelAdmin):
    """Every email sent about a broken link. Written only by the email task; read-only here."""

    list_display = ["sent_at", "kind", "user", "account", "flagged_at"]
    list_select_related = ["account__user"]
    list_filter = [NotificationStepFilter]
    search_fields = ["=account__mono_account_id"]
    search_help_text = "Exact Mono account id."
    fields = ["user", "account", "kind", "flagged_at", "sent_at", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="sent to")
    def user(self, obj: Notification):
        return obj.account.user

    def has_delete_permission(self, request, obj=None):
        return False  # a deleted record would make the reconciler send that email again

    @admin.display(description="email", ordering="step")
    def kind(self, obj: Notification) -> str:
        return obj.kind
