"""Read-only records: users, what came of each widget code, and every email sent about a broken link."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import EmailEvent, LinkAttempt, Notification, User
from notifications import delivery

from .account_filters import UserEmailReachFilter
from .lists import FastListMixin
from .secrets import SecretLookupsRefused


@admin.register(User)
class MonolinkUserAdmin(UserAdmin):
    """Django's user admin, plus whether email reaches the user; a new address lifts the mark."""

    # Plain multiple selects: Django's two-pane widget puts ARIA on elements that may not carry it, and
    # the split date and time inputs have no labels (axe); nobody edits when a user signed in or joined.
    filter_horizontal = ()
    list_filter = [*UserAdmin.list_filter, UserEmailReachFilter]
    fieldsets = [
        *UserAdmin.fieldsets,
        ("Email delivery", {"fields": ["email_undeliverable_at", "email_undeliverable_reason"]}),
    ]
    readonly_fields = ["last_login", "date_joined", "email_undeliverable_at", "email_undeliverable_reason"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The rule is the service's: any change of address clears "can't be reached by email".
        if change and "email" in form.changed_data:
            delivery.address_changed(user_pk=obj.pk)


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

    list_display = ["sent_at", "kind", "user", "account", "flagged_at", "delivery_status"]
    list_select_related = ["account__user"]
    list_filter = [NotificationStepFilter, "delivery_status"]
    search_fields = ["=account__mono_account_id", "=message_id"]
    search_help_text = "Exact Mono account id, or the email provider's message id."
    fields = [
        "user",
        "account",
        "kind",
        "flagged_at",
        "sent_at",
        "message_id",
        "delivery_status",
        "delivery_status_at",
        "delivery_reason",
        "created_at",
    ]
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


@admin.register(EmailEvent)
class EmailEventAdmin(FastListMixin, admin.ModelAdmin):
    """Every tracking event the email provider sent, once each (notifications.delivery); read-only."""

    list_display = ["received_at", "provider", "event_type", "status", "recipient", "notification"]
    list_filter = ["status"]  # choices: no DISTINCT over the table to draw it
    search_fields = ["=recipient", "=message_id"]
    search_help_text = "Exact address, or the provider's message id."
    fields = [
        "provider",
        "event_id",
        "event_type",
        "status",
        "message_id",
        "recipient",
        "reason",
        "occurred_at",
        "received_at",
        "notification",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what the provider said is what staff answer users from
