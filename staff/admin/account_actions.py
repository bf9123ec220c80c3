"""The linked-account list's actions: each confirms first, acts through a service, leaves a LogEntry
per account and one summary message for the whole selection. None calls Mono while staff wait:
refreshes are queued for the worker, with its own deadline and retries."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.template.response import TemplateResponse

from accounts.models import LinkedAccount
from monolink.mono import payloads
from monolink.text import count_noun
from reauth import state
from reauth.tasks import queue_refresh
from webhooks import pipeline

# A click acts on at most this many accounts (a confirmation page lists them all).
MAX_ACCOUNTS_PER_ACTION = 100


NO_REASON = "Give a reason: it is kept in the admin log with the change."


class ClearReasonForm(forms.Form):
    # Blank or only spaces is refused here, by the server (the page's form has novalidate, so the
    # browser's own bubble never stands in for this message).
    reason = forms.CharField(
        max_length=500,
        error_messages={"required": NO_REASON},
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the flag can be cleared without Mono's confirmation. Kept in the admin log.",
    )


class AccountActions:
    """Mixed into LinkedAccountAdmin: its `actions` name these."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not settings.MONO_SANDBOX:  # read at call time: demos only, never with real Mono keys
            actions.pop("send_reauth_required", None)
        return actions

    @admin.action(description="Refresh details from Mono", permissions=["change"])
    def refresh_details_action(self, request, queryset):
        accounts = self._selected(request, queryset)
        if accounts is None:
            return None
        # Queued, not called here: the worker calls Mono with its own deadline and retries, and staff
        # get the page back at once. The jobs commit together or not at all (one waiting per account).
        with transaction.atomic():
            for account in accounts:
                queue_refresh(mono_account_id=account.mono_account_id)
                self.log_change(request, account, "Queued a refresh of the details from Mono")
        self.message_user(request, f"Queued a refresh for {count_noun(len(accounts), 'account')}.", messages.SUCCESS)
        return None

    @admin.action(description="Clear the re-auth flag (with a reason)", permissions=["change"])
    def clear_reauth_flag_action(self, request, queryset):
        # Offered only for what it can do: the accounts in the selection that are flagged now.
        selected, flagged = queryset.count(), queryset.flagged()
        if not flagged.exists():
            self.message_user(request, "None of the selected accounts is flagged: no flag to clear.", messages.WARNING)
            return None
        form = ClearReasonForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_valid():
            return self._confirmation_page(
                request,
                flagged,
                "clear_reauth_flag_action",
                form,
                confirm_label="Clear the flag",
                dangerous=True,
                left_alone=selected - flagged.count(),
            )
        reason = form.cleaned_data["reason"]
        accounts = self._selected(request, flagged)
        if accounts is None:
            return None
        cleared = 0
        for account in accounts:
            try:
                change = state.clear_reauth_flag(mono_account_id=account.mono_account_id, reason=reason)
            except state.UnknownAccount:
                continue
            if change == state.Change.APPLIED:
                cleared += 1
                self.log_change(request, account, f"Cleared the re-auth flag. Reason: {reason}")
        text = f"Cleared the flag on {count_noun(cleared, 'account')}"
        if selected > cleared:
            not_flagged = selected - cleared
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
        self,
        request,
        queryset,
        action: str,
        form: forms.Form | None = None,
        *,
        confirm_label: str,
        dangerous=False,
        left_alone: int = 0,
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
            "left_alone": left_alone,  # selected, but the action does not apply to them
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/linkedaccount/action_confirmation.html", context)

    @admin.action(description="Send reauthorisation_required (sandbox demo)", permissions=["change"])
    def send_reauth_required(self, request, queryset):
        if not settings.MONO_SANDBOX:
            self.message_user(request, "Only available in sandbox mode.", messages.ERROR)
            return None
        if request.POST.get("post") != "yes":
            return self._confirmation_page(request, queryset, "send_reauth_required", confirm_label="Send it")
        accounts = self._selected(request, queryset)
        if accounts is None:
            return None
        # receive() trusts its caller to have checked the secret (the HTTP view does); staff are the caller here.
        headers = {"content-type": "application/json", "user-agent": "monolink-admin (sandbox demo)"}
        refused = []
        for account in accounts:
            body = json.dumps(payloads.reauthorisation_required(account.mono_account_id)).encode()
            outcome = pipeline.receive(body=body, headers=headers, remote_ip=None)
            if 200 <= outcome.http_status < 300:
                self.log_change(request, account, "Sent reauthorisation_required through the webhook pipeline")
            else:
                refused.append(f"{account} ({outcome.detail})")
        sent = len(accounts) - len(refused)
        self.message_user(
            request,
            f"Sent reauthorisation_required for {count_noun(sent, 'account')} through the webhook endpoint's pipeline."
            + (f" Not accepted: {'; '.join(refused)}." if refused else ""),
            messages.ERROR if refused else messages.SUCCESS,
        )
        return None
