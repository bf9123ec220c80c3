"""Staff's window on re-authorisation: who needs it, why, and buttons that call accounts.rules.

The admin never writes a re-auth field itself: every action calls a rule (the ones that change
state ask for confirmation first), leaves a LogEntry per account and one summary message. Lists are
built to stay fast with a million rows on PostgreSQL: no COUNT(*) over the table
(EstimatedCountPaginator), no facet counts, no DISTINCT over a big column for a filter's choices on
every page view, `user` joined in the list query, trigram indexes for the partial-match search.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from monolink.text import count_noun, when

from . import rules, tasks
from .models import LinkAttempt, LinkedAccount, Notification, User
from .templatetags.money import minor_units

admin.site.register(User, UserAdmin)

if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
    # On SQLite Procrastinate's tables do not exist (tasks run in-process): hide its job pages.
    from procrastinate.contrib.django.models import ProcrastinateJob

    if admin.site.is_registered(ProcrastinateJob):
        admin.site.unregister(ProcrastinateJob)

# A click acts on at most this many accounts (a confirmation page lists them all).
MAX_ACCOUNTS_PER_ACTION = 100


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a whole big table.

    Counting is capped at `cap` rows (`SELECT COUNT(*) FROM (… LIMIT cap+1)`), which costs at most
    `cap` index entries however large the table. An unfiltered list on PostgreSQL uses the
    planner's row estimate (pg_class.reltuples, kept fresh by autovacuum) when it is above the cap.
    `count_is_exact` tells the template to say "about" or "more than".
    """

    cap = 10_000
    count_is_exact = True
    count_is_estimate = False

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        estimate = self._estimate(qs)
        if estimate is not None and estimate > self.cap:
            self.count_is_exact = False
            self.count_is_estimate = True
            return estimate
        # values("pk") drops the list's annotations (subqueries) from the counted query.
        capped = qs.values("pk").order_by()[: self.cap + 1].count()
        if capped > self.cap:
            self.count_is_exact = False
            return self.cap
        return capped

    @staticmethod
    def _estimate(qs: QuerySet) -> int | None:
        connection = connections[qs.db]
        if connection.vendor != "postgresql" or qs.query.where:
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [qs.model._meta.db_table])
            row = cursor.fetchone()
        # -1: never analysed. Then the capped count is the honest answer.
        return int(row[0]) if row and row[0] >= 0 else None


class FastListMixin:
    """Lists that stay cheap on a big table (see the module docstring)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


# --- filters: fixed choices, so rendering the sidebar costs no query --------------------------


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
        if value in ("flagged", "needs_reauth", "awaiting"):
            flagged = queryset.flagged()
            if value == "flagged":
                return flagged
            grace_start = timezone.now() - settings.REAUTH_GRACE_PERIOD
            if value == "awaiting":
                return flagged.filter(reauth_submitted_at__gte=grace_start)
            return flagged.exclude(reauth_submitted_at__gte=grace_start)
        if value == "ok":
            return queryset.linked().filter(reauth_required=False)
        return queryset


class DataStatusFilter(admin.SimpleListFilter):
    # Mono's documented values (DESIGN.md §1); rules store them upper-cased.
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


# --- the clear-flag reason ------------------------------------------------------------------


class ClearReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the flag can be cleared without Mono's confirmation. Kept in the admin log.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason.")
        return reason


@admin.register(LinkedAccount)
class LinkedAccountAdmin(FastListMixin, admin.ModelAdmin):
    # Bank and number sit under the account's name: eight columns fit 1280 px beside the filters.
    list_display = [
        "account_cell",
        "user",
        "reauth_state",
        "data_status_label",
        "reauth_requested_at",
    ]
    list_display_links = ["account_cell"]
    # Only columns an index can sort: a click on another header would sort a million rows.
    sortable_by = ["reauth_requested_at"]
    list_select_related = ["user"]
    list_filter = [ReauthStateFilter, DataStatusFilter, InstitutionFilter, UnlinkedFilter]
    # Partial matches, answered by trigram indexes on PostgreSQL (see get_search_results).
    search_fields = ["account_name", "account_number_masked", "user__username", "user__email", "mono_account_id"]
    search_help_text = "Name, username, email, last digits of the account number, or Mono account id."
    list_per_page = 100
    actions = ["refresh_details_action", "clear_reauth_flag_action"]
    # reauth_code holds only a token's fingerprint; still not a form field: rules write it, staff read it.
    exclude = ["reauth_code"]
    fieldsets = [
        (None, {"fields": ["user", "account_label", "account_number_masked", "reauth_state", "mono_account_id"]}),
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
                    "reauth_code_issued_at",
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
                    "institution_type",
                    "institution_bank_code",
                    "account_type",
                    "balance_display",
                    "data_status_label",
                    "auth_method_label",
                    "details_as_of",
                ]
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    change_list_template = "admin/accounts/linkedaccount/change_list.html"

    def lookup_allowed(self, lookup, value, request=None):
        # No filtering on a token field (?reauth_code__startswith=… would recover a token one
        # character at a time, even for view-only staff), as Django's UserAdmin refuses `password`.
        if lookup.startswith(("reauth_code", "user__password")):
            return False
        return super().lookup_allowed(lookup, value, request)

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
        """Counts for the top of the list, each from an index (the flagged partial index), never a
        scan of the table: they grow with the number of flagged accounts, not with the table.
        webhooks.admin adds the failed deliveries."""
        grace_start = timezone.now() - settings.REAUTH_GRACE_PERIOD
        flagged = LinkedAccount.objects.flagged()
        # Two counts, not one aggregate: each is then an index-only scan of its own partial index
        # (linkedaccount_flagged_idx, linkedaccount_awaiting_idx).
        counts = {"flagged": flagged.count(), "awaiting": flagged.filter(reauth_submitted_at__gte=grace_start).count()}
        accounts_url = reverse("admin:accounts_linkedaccount_changelist")
        return {
            "flagged": counts["flagged"],
            "flagged_url": f"{accounts_url}?reauth_state=flagged",
            "awaiting": counts["awaiting"],
            "awaiting_url": f"{accounts_url}?reauth_state=awaiting",
        }

    # --- columns and read-only fields ---

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
        return obj.data_status.capitalize() if obj.data_status else "-"

    @admin.display(description="sign-in method")
    def auth_method_label(self, obj):
        return obj.auth_method.replace("_", " ").capitalize() if obj.auth_method else "-"

    @admin.display(description="balance")
    def balance_display(self, obj):
        return minor_units(obj.balance, obj.currency)

    @admin.display(description="last re-auth token")
    def reauth_token(self, obj):
        # Only a fingerprint is ever stored (accounts.rules.token_fingerprint); anything else in the
        # column (a row written around the rules) is not shown at all: it could be a live token.
        if not obj.reauth_code:
            return "-"
        if not obj.reauth_code.startswith("sha256:"):
            return "(hidden: not a fingerprint)"
        minted = obj.reauth_code_issued_at
        when = f", minted {timezone.localtime(minted):%Y-%m-%d %H:%M}" if minted else ""
        return f"fingerprint {obj.reauth_code}{when}"

    # --- actions: confirm, then one summary message for the whole selection ---

    @admin.action(description="Refresh details from Mono", permissions=["change"])
    def refresh_details_action(self, request, queryset):
        accounts = self._selected(request, queryset)
        if accounts is None:
            return None
        # Queued, not called here: the worker calls Mono with its own deadline and retries, and staff
        # get the page back at once. The jobs commit together or not at all (one waiting per account).
        with transaction.atomic():
            for account in accounts:
                tasks.queue_refresh(mono_account_id=account.mono_account_id)
                self.log_change(request, account, "Queued a refresh of the details from Mono")
        self.message_user(request, f"Queued a refresh for {count_noun(len(accounts), 'account')}.", messages.SUCCESS)
        return None

    @admin.action(description="Clear the re-auth flag (with a reason)", permissions=["change"])
    def clear_reauth_flag_action(self, request, queryset):
        form = ClearReasonForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_valid():
            return self._confirmation_page(
                request, queryset, "clear_reauth_flag_action", form, confirm_label="Clear the flag", dangerous=True
            )
        reason = form.cleaned_data["reason"]
        accounts = self._selected(request, queryset)
        if accounts is None:
            return None
        cleared = 0
        for account in accounts:
            try:
                change = rules.clear_reauth_flag(mono_account_id=account.mono_account_id, reason=reason)
            except rules.UnknownAccount:
                continue
            if change == rules.Change.APPLIED:
                cleared += 1
                self.log_change(request, account, f"Cleared the re-auth flag. Reason: {reason}")
        text = f"Cleared the flag on {count_noun(cleared, 'account')}"
        if len(accounts) > cleared:
            not_flagged = len(accounts) - cleared
            text += f"; {count_noun(not_flagged, 'other was', 'others were')} not flagged"
        self.message_user(request, f"{text}.", messages.SUCCESS if cleared else messages.WARNING)
        return None

    def _selected(self, request, queryset) -> list[LinkedAccount] | None:
        accounts = list(queryset.select_related("user")[: MAX_ACCOUNTS_PER_ACTION + 1])
        if len(accounts) > MAX_ACCOUNTS_PER_ACTION:
            self.message_user(
                request, f"Select at most {MAX_ACCOUNTS_PER_ACTION} accounts at a time.", messages.WARNING
            )
            return None
        return accounts

    def _confirmation_page(
        self, request, queryset, action: str, form: forms.Form | None = None, *, confirm_label: str, dangerous=False
    ):
        accounts = self._selected(request, queryset)
        if accounts is None:
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Are you sure?",
            "opts": self.model._meta,
            "accounts": accounts,
            "action": action,
            "action_description": self.get_actions(request)[action][2],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            "index": request.POST.get("index", "0"),
            "form": form,
            "dangerous": dangerous,  # a red button only for what cannot be undone by a click
            "confirm_label": confirm_label,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/linkedaccount/action_confirmation.html", context)


@admin.register(LinkAttempt)
class LinkAttemptAdmin(admin.ModelAdmin):
    """Read-only: what came of each widget code. The code itself is never shown, not even masked."""

    list_display = ["created_at", "user", "institution_name", "status", "mono_account_id", "error"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["mono_account_id", "user__username", "user__email"]
    fields = ["user", "institution_name", "status", "mono_account_id", "error", "created_at", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- emails about broken links (accounts.notifications): what was sent, and when ---------------


class NotificationInline(admin.TabularInline):
    """The first email and reminders sent for this account, newest first; a record, not a form."""

    model = Notification
    verbose_name_plural = "Emails about broken links (first email and reminders)"
    fields = ["kind", "flagged_at", "sent_at"]
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


LinkedAccountAdmin.inlines = [*LinkedAccountAdmin.inlines, NotificationInline]


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

    list_display = ["sent_at", "kind", "account", "flagged_at"]
    list_select_related = ["account"]
    list_filter = [NotificationStepFilter]
    search_fields = ["=account__mono_account_id"]
    search_help_text = "Exact Mono account id."
    fields = ["account", "kind", "flagged_at", "sent_at", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a deleted record would make the reconciler send that email again

    @admin.display(description="email", ordering="step")
    def kind(self, obj: Notification) -> str:
        return obj.kind
