"""Staff's window on re-authorisation, built once: who needs it, why, each account's deliveries, and
actions that go through the services (staff.admin.account_actions).

The admin never writes a re-auth field itself. Lists are built to stay fast with a million rows on
PostgreSQL (staff.admin.lists): no COUNT(*) over the table, no facet counts, no DISTINCT over a big
column for a filter's choices on every page view, `user` joined in the list query, trigram indexes
for the partial-match search, the last delivery as an indexed subquery.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, Subquery
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import smart_split, unescape_string_literal

from accounts.models import LinkedAccount, Notification
from monolink.mono import events
from monolink.templatetags.money import minor_units
from monolink.text import plain_words, when
from webhooks.models import WebhookEvent

from .account_actions import AccountActions
from .account_filters import DataStatusFilter, EmailReachFilter, InstitutionFilter, ReauthStateFilter, UnlinkedFilter
from .lists import FastListMixin
from .secrets import SecretLookupsRefused

RECENT_DELIVERIES = 20


class NotificationInline(admin.TabularInline):
    """The first email and reminders sent for this account, newest first; a record, not a form."""

    model = Notification
    verbose_name_plural = "Emails about broken links (first email and reminders)"
    fields = ["kind", "flagged_at", "sent_at", "delivery_status", "delivery_status_at", "delivery_reason"]
    readonly_fields = fields
    ordering = ["-sent_at"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="email")
    def kind(self, obj: Notification) -> str:
        return obj.kind


@admin.register(LinkedAccount)
class LinkedAccountAdmin(SecretLookupsRefused, FastListMixin, AccountActions, admin.ModelAdmin):
    # Bank and number sit under the account's name: eight columns fit 1280 px beside the filters.
    list_display = [
        "account_cell",
        "user",
        "reauth_state",
        "data_status_label",
        "flagged_since",
        "last_delivery",
    ]
    list_display_links = ["account_cell"]
    # Only columns an index can sort: a click on another header would sort a million rows.
    sortable_by = ["reauth_requested_at"]
    list_select_related = ["user"]
    list_filter = [ReauthStateFilter, DataStatusFilter, InstitutionFilter, UnlinkedFilter, EmailReachFilter]
    # Partial matches, answered by trigram indexes on PostgreSQL (see get_search_results).
    search_fields = ["account_name", "account_number_masked", "user__username", "user__email", "mono_account_id"]
    search_help_text = "Name, username, email, last digits of the account number, or Mono account id."
    list_per_page = 100
    actions = ["refresh_details_action", "clear_reauth_flag_action", "send_reauth_required"]
    inlines = [NotificationInline]
    # reauth_token_fingerprint holds only a token's fingerprint; still not a form field: rules write it, staff read it.
    exclude = ["reauth_token_fingerprint"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "user",
                    "user_email",
                    "account_label",
                    "account_number_masked",
                    "reauth_state",
                    "mono_account_id",
                ]
            },
        ),
        (
            "Reconnection",
            {
                "fields": [
                    "flag",
                    "reauth_requested_at",
                    "reauth_notified_at",
                    "reauth_submitted_at",
                    "reauth_completed_at",
                    "reauth_token",
                    "reauth_token_issued_at",
                    "last_event_at",
                    "unlinked_at",
                ]
            },
        ),
        (
            "Bank details from Mono",
            {
                "fields": [
                    "institution_name",
                    "institution_type_label",
                    "institution_bank_code",
                    "account_type_label",
                    "balance_display",
                    "data_status_label",
                    "auth_method_label",
                    "details_as_of",
                ]
            },
        ),
        ("Recent webhook deliveries", {"fields": ["recent_deliveries"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    change_list_template = "admin/accounts/linkedaccount/change_list.html"
    # No filtering on a token field (staff.admin.secrets), as Django's UserAdmin refuses `password`.
    secret_lookups = ("reauth_token_fingerprint", "user__password")

    # Every field is read-only: state changes go through the actions, i.e. through accounts.rules.
    def get_readonly_fields(self, request, obj=None):
        return [name for _title, opts in self.fieldsets for name in opts["fields"]]

    def has_add_permission(self, request):
        return False  # accounts come from linking at Mono, never from a form

    def has_delete_permission(self, request, obj=None):
        return False  # deleting would bypass the rules (and Mono); unlinking is Mono's event

    def get_ordering(self, request):
        # The flagged lists are read newest flag first, straight from the partial index.
        if request.GET.get(ReauthStateFilter.parameter_name) in ("flagged", "needs_reauth", "awaiting"):
            return ["-reauth_requested_at"]
        return super().get_ordering(request)

    def get_search_results(self, request, queryset, search_term):
        """Each word matches part of the account's name or number, the user's username or email, or
        the exact Mono id ("ada 4321" finds Ada's account ending 4321).

        Django's default ORs the conditions across the join to users, which PostgreSQL can only
        answer by scanning the whole table. Looking the users up first (a small table, its own
        trigram indexes) leaves one table's conditions ORed: a BitmapOr of the trigram indexes
        (migration 0009) and the id indexes. On SQLite the same query is a scan, fine at its size.
        """
        terms = [unescape_string_literal(t) if t[0] in "\"'" else t for t in smart_split(search_term)]
        if not terms:
            return queryset, False
        users = get_user_model().objects
        for term in terms:
            user_ids = users.filter(Q(username__icontains=term) | Q(email__icontains=term)).values_list("pk", flat=True)
            match = (
                Q(mono_account_id=term)
                | Q(account_name__icontains=term)
                | Q(account_number_masked__icontains=term)
                | Q(user_id__in=list(user_ids[:1000]))
            )
            if term.isdigit() and len(term) > 4:  # a full number typed: the masked one shows its last 4 digits
                match |= Q(account_number_masked__iendswith=term[-4:])
            queryset = queryset.filter(match)
        return queryset, False

    def get_queryset(self, request):
        latest = WebhookEvent.objects.filter(mono_account_id=OuterRef("mono_account_id")).order_by("-received_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_delivery_event=Subquery(latest.values("event")[:1]),
                last_delivery_at=Subquery(latest.values("received_at")[:1]),
            )
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on the form is editable, so no save buttons either.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "reauth_summary": self._summary()})

    def _summary(self) -> dict:
        """Counts for the top of the list, each from an index, never a scan of the table: they grow
        with the number of flagged accounts (the partial indexes) and failed deliveries of the last
        24 h (WebhookEvent's (status, received_at) index), not with the table."""
        # Two counts, not one aggregate: each is then an index-only scan of its own partial index
        # (linkedaccount_flagged_idx, linkedaccount_awaiting_idx).
        accounts_url = reverse("admin:accounts_linkedaccount_changelist")
        deliveries_url = reverse("admin:webhooks_webhookevent_changelist")
        return {
            "flagged": LinkedAccount.objects.flagged().count(),
            "flagged_url": f"{accounts_url}?reauth_state=flagged",
            "awaiting": LinkedAccount.objects.awaiting().count(),
            "awaiting_url": f"{accounts_url}?reauth_state=awaiting",
            "failed": WebhookEvent.objects.problems_since(timezone.now() - timedelta(hours=24)).count(),
            "failed_url": f"{deliveries_url}?{urlencode({'status': 'problem', 'received': '24h'})}",
        }

    # --- columns and read-only fields ---

    @admin.display(description="user's email")
    def user_email(self, obj):
        user = obj.user
        if not user.email:
            return "No address: no email can be sent."
        if user.email_reachable:
            return user.email
        return format_html(
            '{} <span class="badge badge-unreachable">Can\'t be reached by email</span><br>'
            '<span class="quiet">Since {}: {}. Reminders have stopped; changing the address (the user\'s page) '
            "clears this.</span>",
            user.email,
            when(user.email_undeliverable_at),
            user.email_undeliverable_reason or "reported by the email provider",
        )

    @admin.display(description="account", ordering="account_name")
    def account_label(self, obj):
        return obj.account_name or obj.mono_account_id

    @admin.display(description="account")
    def account_cell(self, obj):
        return format_html(
            '{}<br><span class="quiet">{} {}</span>',
            obj.account_name or obj.mono_account_id,
            obj.institution_name or "Bank account",
            obj.account_number_masked,
        )

    @admin.display(description="state")
    def reauth_state(self, obj):
        state = obj.state
        return format_html('<span class="badge badge-{}">{}</span>', state.value, state.label)

    @admin.display(description="flagged", ordering="reauth_requested_at", empty_value="-")
    def flagged_since(self, obj):
        # Only for a flag that stands now: reauth_requested_at stays after a flag clears (history).
        return when(obj.reauth_requested_at) if obj.is_flagged else None

    @admin.display(description="needs reconnecting")
    def flag(self, obj):
        if not obj.reauth_required:
            return "No"
        return format_html(
            '<img class="flag-icon" src="{}" alt="" width="16" height="16"> <strong>Yes</strong>, since {}',
            static("admin_monolink/flag.svg"),
            when(obj.reauth_requested_at),
        )

    @admin.display(description="data")
    def data_status_label(self, obj):
        return plain_words(obj.data_status)

    @admin.display(description="sign-in method")
    def auth_method_label(self, obj):
        return plain_words(obj.auth_method)

    @admin.display(description="bank type")
    def institution_type_label(self, obj):
        return plain_words(obj.institution_type)

    @admin.display(description="account type")
    def account_type_label(self, obj):
        return plain_words(obj.account_type)

    @admin.display(description="balance")
    def balance_display(self, obj):
        return minor_units(obj.balance, obj.currency)

    @admin.display(description="last re-auth token")
    def reauth_token(self, obj):
        # Only a fingerprint is ever stored (accounts.rules.token_fingerprint); anything else in the
        # column (a row written around the rules) is not shown at all: it could be a live token.
        if not obj.reauth_token_fingerprint:
            return "-"
        if not obj.reauth_token_fingerprint.startswith("sha256:"):
            return "(hidden: not a fingerprint)"
        minted = obj.reauth_token_issued_at
        when = f", minted {timezone.localtime(minted):%Y-%m-%d %H:%M}" if minted else ""
        return f"fingerprint {obj.reauth_token_fingerprint}{when}"

    @admin.display(description="last delivery")
    def last_delivery(self, obj):
        event = getattr(obj, "last_delivery_event", None)
        if not event:
            return "-"
        return format_html('{}<br><span class="quiet">{}</span>', events.label(event), when(obj.last_delivery_at))

    @admin.display(description="last 20 deliveries for this account")
    def recent_deliveries(self, obj):
        rows = list(
            WebhookEvent.objects.filter(mono_account_id=obj.mono_account_id)
            .order_by("-received_at", "-id")
            .only("pk", "event", "status", "received_at", "attempts")[:RECENT_DELIVERIES]
        )
        if not rows:
            return "No deliveries for this account."
        cells = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td>'
            '<td><span class="badge badge-{}">{}</span></td><td>{}</td></tr>',
            (
                (
                    reverse("admin:webhooks_webhookevent_change", args=[e.pk]),
                    when(e.received_at),
                    events.label(e.event),
                    e.status,
                    e.get_status_display(),
                    e.attempts,
                )
                for e in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>received</th><th>event</th><th>status</th><th>tries</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            cells,
        )
