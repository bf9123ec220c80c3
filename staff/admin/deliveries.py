"""The webhook delivery log, read-only: staff read every delivery and can run one again.

No one adds, edits or deletes a delivery here (it is the record of what Mono sent). The one write is
'Reprocess', which goes through webhooks.pipeline.reprocess, the same path as `replay_webhooks`.
Lists stay fast on a million rows: see staff.admin.lists.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.models import LinkedAccount
from monolink.mono import events
from monolink.mono.types import mask_account_number
from monolink.text import count_noun, when
from webhooks import pipeline
from webhooks.models import WebhookEvent

from .lists import FastListMixin

MAX_EVENTS_PER_REPROCESS = 100


class EventFilter(admin.SimpleListFilter):
    """Mono's known events as fixed choices: a DISTINCT over a million rows per page view is not."""

    title = "event"
    parameter_name = "event"

    def lookups(self, request, model_admin):
        return [(name, events.label(name)) for name in events.ALL]  # plain words, not Mono's snake_case

    def queryset(self, request, queryset):
        return queryset.filter(event=self.value()) if self.value() else queryset


class ReceivedFilter(admin.SimpleListFilter):
    title = "received"
    parameter_name = "received"
    periods = {
        "1h": ("Last hour", timedelta(hours=1)),
        "24h": ("Last 24 hours", timedelta(hours=24)),
        "7d": ("Last 7 days", timedelta(days=7)),
        "30d": ("Last 30 days", timedelta(days=30)),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _span) in self.periods.items()]

    def queryset(self, request, queryset):
        period = self.periods.get(self.value() or "")
        return queryset.filter(received_at__gte=timezone.now() - period[1]) if period else queryset


class StatusFilter(admin.SimpleListFilter):
    """The stored statuses, plus "failed or invalid": both are deliveries staff have to look at."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("problem", "Failed or invalid"), *WebhookEvent.Status.choices]

    def queryset(self, request, queryset):
        if self.value() == "problem":
            return queryset.filter(status__in=WebhookEvent.PROBLEM_STATUSES)
        return queryset.filter(status=self.value()) if self.value() else queryset


def _pretty_json(value) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    # A lone surrogate ("\ud800", refused as invalid) cannot be encoded into the page: keep it escaped.
    return text if not _LONE_SURROGATE.search(text) else json.dumps(value, indent=2, sort_keys=True)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ACCOUNT_NUMBER_KEYS = {"accountNumber", "account_number"}  # v1 and v2 spellings
_LONG_NUMBER = re.compile(r"\d{8,}")  # a NUBAN is 10 digits


def _masked(value):
    """The body with every account number masked as every other screen shows it ('******6789')."""
    if isinstance(value, dict):
        return {
            k: mask_account_number(str(v)) if k in _ACCOUNT_NUMBER_KEYS and v else _masked(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


@admin.register(WebhookEvent)
class WebhookEventAdmin(FastListMixin, admin.ModelAdmin):
    list_display = ["received", "event_name", "account", "status_badge", "attempts", "short_error"]
    list_display_links = ["received"]
    sortable_by = ["received"]  # the only indexed column: others would sort a million rows
    list_filter = [EventFilter, StatusFilter, ReceivedFilter]
    # Exact matches: served by the mono_account_id and event_id indexes.
    search_fields = ["mono_account_id__exact", "event_id__exact"]
    search_help_text = "Exact Mono account id or event id."
    list_per_page = 100
    actions = ["reprocess"]
    fields = [
        "received_at",
        "event_description",
        "account",
        "event_id",
        "occurred_at",
        "status",
        "attempts",
        "processed_at",
        "error",
        "traceback_pre",
        "remote_ip",
        "headers_pre",
        "body_pre",
        "dedupe_key",
        "updated_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        match = request.resolver_match
        if match and match.url_name and match.url_name.endswith("_changelist"):
            # A body may be up to WEBHOOK_MAX_BODY_BYTES: a page of 100 must not haul them all.
            # The account's bank and number come with the page, as subqueries on the unique
            # mono_account_id index (one lookup per row shown, not a query per row).
            account = LinkedAccount.objects.filter(mono_account_id=OuterRef("mono_account_id"))
            qs = qs.defer("body", "headers", "traceback").annotate(
                account_pk=Subquery(account.values("pk")[:1]),
                account_bank=Subquery(account.values("institution_name")[:1]),
                account_number=Subquery(account.values("account_number_masked")[:1]),
            )
        return qs

    # The log is a record: viewable by staff with view permission, never edited through the admin.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_reprocess_permission(self, request):
        # The model's "change" permission is what grants a re-run, although no form can change a row.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.display(description="received", ordering="received_at")
    def received(self, obj):
        return when(obj.received_at)

    @admin.display(description="event")
    def event_name(self, obj):
        return events.label(obj.event)

    @admin.display(description="event")
    def event_description(self, obj):
        # What it means, then Mono's own name (what Mono's support and docs call it).
        return format_html('{} <span class="quiet">({})</span>', events.label(obj.event), obj.event or "none")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_reprocess": self.has_reprocess_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="status")
    def status_badge(self, obj):
        return format_html('<span class="badge badge-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="account", ordering="mono_account_id")
    def account(self, obj):
        if not obj.mono_account_id:
            return "-"
        if hasattr(obj, "account_pk"):  # the list: annotated by get_queryset
            account_pk, bank, number = obj.account_pk, obj.account_bank, obj.account_number
        else:  # one delivery's page: one query
            account = LinkedAccount.objects.filter(mono_account_id=obj.mono_account_id).first()
            account_pk = account and account.pk
            bank, number = (account.institution_name, account.account_number_masked) if account else ("", "")
        if account_pk is None:  # a delivery that beat its account here (or for an account never linked)
            return format_html('<span class="quiet">Not linked here ({})</span>', obj.mono_account_id)
        url = reverse("admin:accounts_linkedaccount_change", args=[account_pk])
        # Two lines, like the accounts list: a long bank name must not cut the number off.
        return format_html('<a href="{}">{}<br><span class="quiet">{}</span></a>', url, bank or "Bank account", number)

    @admin.display(description="error", empty_value="")
    def short_error(self, obj):
        if not obj.error:
            return ""
        # The first line is the exception and its message; the full text is on the delivery's page.
        first_line = obj.error.strip().splitlines()[0]
        return format_html(
            '<span class="error-excerpt" title="{}">{}</span>', first_line, Truncator(first_line).chars(70)
        )

    @admin.display(description="body (account numbers masked)")
    def body_pre(self, obj):
        try:
            text = _pretty_json(_masked(json.loads(obj.body)))
        except ValueError:
            # Kept as received (escaped below like everything else), any long run of digits masked.
            text = _LONG_NUMBER.sub(lambda m: mask_account_number(m.group(0)), obj.body)
        return format_html("<pre>{}</pre>", text)

    @admin.display(description="headers (webhook secret removed at storage)")
    def headers_pre(self, obj):
        return format_html("<pre>{}</pre>", _pretty_json(obj.headers))

    @admin.display(description="traceback")
    def traceback_pre(self, obj):
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "-"

    @admin.action(description="Reprocess through the webhook pipeline", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        events = list(queryset[: MAX_EVENTS_PER_REPROCESS + 1])
        if len(events) > MAX_EVENTS_PER_REPROCESS:
            self.message_user(request, f"Select at most {MAX_EVENTS_PER_REPROCESS} deliveries.", messages.WARNING)
            return
        outcomes = Counter()
        problems = []
        for event in events:
            outcome = pipeline.reprocess(event)
            row = outcome.delivery or event
            outcomes[row.get_status_display().lower()] += 1
            if not 200 <= outcome.http_status < 300:
                problems.append(f"#{event.pk}: {outcome.detail}")
            self.log_change(request, event, f"Reprocessed: {outcome.detail}")
        # One message for the selection, however many rows: "Reprocessed 15 deliveries: 13 processed, 2 failed."
        summary = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items()))
        text = f"Reprocessed {count_noun(len(events), 'delivery', 'deliveries')}: {summary}."
        if problems:
            text += " " + "; ".join(problems[:5]) + (f" and {len(problems) - 5} more." if len(problems) > 5 else ".")
        self.message_user(request, text, messages.ERROR if problems else messages.SUCCESS)
