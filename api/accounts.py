"""The signed-in user's accounts: the list, one account, its re-auth state (polled, with an ETag)
and what needs the user now. Reads only, through LinkedAccount's querysets; states from reauth.cards."""

from __future__ import annotations

import hashlib
import json

from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from accounts.models import LinkedAccount
from reauth.cards import summarise

from .base import ApiView
from .serializers import AccountSerializer, ReauthStatusSerializer, SummarySerializer


def users_accounts(request):
    return LinkedAccount.objects.for_user(request.user).in_display_order()


class AccountList(ApiView):
    @extend_schema(operation_id="accounts_list", responses=AccountSerializer(many=True))
    def get(self, request):
        """The user's linked accounts, as the dashboard lists them."""
        return Response(AccountSerializer(users_accounts(request), many=True).data)


class AccountDetail(ApiView):
    @extend_schema(operation_id="accounts_retrieve", responses=AccountSerializer)
    def get(self, request, account_id: int):
        """One of the user's accounts (another user's answers 404)."""
        return Response(AccountSerializer(get_object_or_404(users_accounts(request), pk=account_id)).data)


class ReauthStatus(ApiView):
    @extend_schema(
        operation_id="accounts_reauth_status",
        responses={200: ReauthStatusSerializer, 304: OpenApiResponse(description="Unchanged since your ETag.")},
    )
    def get(self, request, account_id: int):
        """The account's re-auth state, to poll after the SDK's success until `ok`/`reconnected`.
        Send the last ETag as If-None-Match: an unchanged state answers 304 with no body."""
        account = get_object_or_404(users_accounts(request), pk=account_id)
        data = ReauthStatusSerializer(account).data
        etag = '"' + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32] + '"'
        unchanged = get_conditional_response(request, etag=etag)
        if unchanged is not None:
            return unchanged
        return Response(data, headers={"ETag": etag})


class Summary(ApiView):
    @extend_schema(operation_id="summary", responses=SummarySerializer)
    def get(self, request):
        """What needs the user now, for the app's launch screen (one query)."""
        summary = summarise(list(users_accounts(request).linked()))
        return Response(SummarySerializer(summary).data)
