"""What the API reads and answers. Accounts are described by reauth.cards (the same state, badge
and sentence as the web pages); nothing here decides a state."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from accounts.models import LinkAttempt
from monolink.mono import CODE_MAX_LENGTH, code_validator
from reauth.cards import app_state, reauth_card

STATES = ["ok", "needs_reauth", "awaiting", "reconnected", "unlinked"]


class TextField(serializers.CharField):
    """Text only: DRF's CharField turns 12 into "12", but a number where a code belongs is garbage."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SignInSerializer(serializers.Serializer):
    username = TextField(max_length=150)
    password = TextField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once: send it as `Authorization: Bearer <token>`.")
    expiry = serializers.DateTimeField(allow_null=True)


class ReauthStatusSerializer(serializers.Serializer):
    """One account's re-auth state: what the app polls after the SDK's success."""

    id = serializers.IntegerField()
    bank = serializers.CharField()
    state = serializers.ChoiceField(choices=STATES)
    badge = serializers.CharField()
    message = serializers.CharField(help_text="One sentence for the user; empty when all is well.")

    def to_representation(self, account):
        card = reauth_card(account)
        state = app_state(account)
        return {
            "id": account.pk,
            "bank": card.bank,
            "state": state,
            "badge": "Connected" if state == "ok" else card.badge,
            "message": "" if state == "ok" else card.text,
        }


class AccountSerializer(ReauthStatusSerializer):
    account_name = serializers.CharField()
    number = serializers.CharField(help_text="Masked, as Mono gives it.")
    account_type = serializers.CharField()
    currency = serializers.CharField()
    balance = serializers.IntegerField(allow_null=True, help_text="Minor units (kobo).")
    data_status = serializers.CharField(help_text="Mono's: AVAILABLE, PARTIAL, UNAVAILABLE, FAILED, PROCESSING.")
    data_as_of = serializers.DateTimeField(allow_null=True, help_text="When Mono last gave us this data.")
    data_age_seconds = serializers.IntegerField(allow_null=True)
    flagged_at = serializers.DateTimeField(allow_null=True)
    reconnected_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, account):
        data = super().to_representation(account)
        as_of = account.details_as_of
        dates = serializers.DateTimeField()
        data.update(
            account_name=account.account_name,
            number=account.account_number_masked,
            account_type=account.account_type,
            currency=account.currency,
            balance=account.balance,
            data_status=account.data_status,
            data_as_of=dates.to_representation(as_of) if as_of else None,
            data_age_seconds=int((timezone.now() - as_of).total_seconds()) if as_of else None,
            flagged_at=dates.to_representation(account.reauth_requested_at) if account.reauth_requested_at else None,
            reconnected_at=(
                dates.to_representation(account.reauth_completed_at) if account.reauth_completed_at else None
            ),
        )
        return data


class SummarySerializer(serializers.Serializer):
    """The launch screen: send the user to re-auth when `needs_reauth` is not empty."""

    needs_reauth = ReauthStatusSerializer(many=True, source="needs_user")
    awaiting = ReauthStatusSerializer(many=True)
    reconnected = ReauthStatusSerializer(many=True)


class CredentialSerializer(serializers.Serializer):
    """What the SDK needs to open the widget in re-auth scope (docs/mobile.md, per SDK and version)."""

    mode = serializers.ChoiceField(choices=["account", "token"])
    public_key = serializers.CharField()
    scope = serializers.CharField(help_text='Always "reauth".')
    account_id = serializers.CharField(required=False, help_text="Account mode: the Mono account id.")
    token = serializers.CharField(required=False, help_text="Token mode: a re-auth token, shown once.")
    expires_at = serializers.DateTimeField(required=False, help_text="Token mode: when the token dies.")
    customer_id = serializers.CharField(required=False, help_text="The Mono customer, when we know it.")


class CompleteSerializer(serializers.Serializer):
    """The SDK's onSuccess. `code` is optional: a re-auth may end without one."""

    code = TextField(required=False, allow_blank=True, max_length=CODE_MAX_LENGTH, validators=[code_validator])


class HostedSerializer(serializers.Serializer):
    return_to = TextField(required=False, help_text="One of the server's MOBILE_DEEP_LINKS (default: the first).")

    def validate_return_to(self, value: str) -> str:
        if value not in settings.MOBILE_DEEP_LINKS:
            raise serializers.ValidationError("Not one of this server's app links (MOBILE_DEEP_LINKS).")
        return value


class HostedAnswerSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Mono's hosted re-auth page: open it in an in-app browser.")
    return_to = serializers.CharField(help_text="The app link the browser is sent to afterwards.")


class LinkSerializer(serializers.Serializer):
    code = TextField(max_length=CODE_MAX_LENGTH, validators=[code_validator])
    institution = TextField(max_length=128, required=False, allow_blank=True, default="")


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    status = serializers.ChoiceField(choices=LinkAttempt.Status.values)
    message = serializers.CharField()
    account = serializers.IntegerField(allow_null=True, help_text="The linked account, once linked.")
    status_url = serializers.CharField()
