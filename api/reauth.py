"""Re-auth from the app: the credential the SDK opens the widget with, the SDK's success, and Mono's
hosted page for an in-app browser with its way back into the app. Rules and Mono calls are in
reauth.credentials (the web page calls the same ones), each Mono call within MONO_REQUEST_DEADLINE."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.models import LinkedAccount
from monolink.mono import Deadline, MonoError
from reauth import credentials
from reauth.cards import app_state, reauth_card

from .accounts import users_accounts
from .base import ApiView
from .problems import Conflict, MonoFailed
from .serializers import (
    CompleteSerializer,
    CredentialSerializer,
    HostedAnswerSerializer,
    HostedSerializer,
    ReauthStatusSerializer,
)
from .throttles import MonoCallThrottle

log = logging.getLogger(__name__)


def not_flagged(request, account_id: int) -> Exception:
    """Not (or no longer) flagged: 409 with its state when it is the user's (Mono confirmed meanwhile),
    else 404 (another user's account is never acknowledged)."""
    account = users_accounts(request).filter(pk=account_id).first()
    if account is None:
        return Http404()
    card = reauth_card(account)
    conflict = Conflict(f"Nothing to reconnect: {card.text}")
    conflict.default_code = "not-flagged"
    conflict.extra = {"state": app_state(account)}
    return conflict


class Credential(ApiView):
    throttle_classes = [MonoCallThrottle]

    @extend_schema(operation_id="accounts_reauth_credential", request=None, responses={200: CredentialSerializer})
    def post(self, request, account_id: int):
        """What the SDK's re-authorise call needs for one flagged account: the account id (SDKs from
        2.1) or a re-auth token minted now (older builds; it lives 10 minutes, ask again each time)."""
        try:
            deadline = Deadline.after(settings.MONO_REQUEST_DEADLINE)
            credential = credentials.issue_credential(user=request.user, account_id=account_id, deadline=deadline)
        except LinkedAccount.DoesNotExist:
            raise not_flagged(request, account_id) from None
        except MonoError as exc:
            log.warning("re-auth credential failed account=%s error=%s", account_id, type(exc).__name__)
            raise MonoFailed(exc) from None
        answer = {"mode": credential.mode, "public_key": credentials.widget_public_key(), "scope": "reauth"}
        if credential.mode == "account":
            answer["account_id"] = credential.value
        else:
            answer.update(token=credential.value, expires_at=credential.expires_at)
        return Response(CredentialSerializer(answer).data, headers={"Cache-Control": "no-store"})


class Complete(ApiView):
    @extend_schema(
        operation_id="accounts_reauth_complete", request=CompleteSerializer, responses=ReauthStatusSerializer
    )
    def post(self, request, account_id: int):
        """The SDK reported success (a code or none): the account waits for Mono's confirmation."""
        CompleteSerializer(data=request.data).is_valid(raise_exception=True)
        try:
            account = credentials.finish_reauth(user=request.user, account_id=account_id)
        except LinkedAccount.DoesNotExist:
            raise Http404() from None
        return Response(ReauthStatusSerializer(account).data)


class Hosted(ApiView):
    throttle_classes = [MonoCallThrottle]

    @extend_schema(operation_id="accounts_reauth_hosted", request=HostedSerializer, responses=HostedAnswerSerializer)
    def post(self, request, account_id: int):
        """Mono's hosted re-auth page, for an in-app browser when the SDK cannot be used; afterwards the
        browser is sent to one of the app's links (MOBILE_DEEP_LINKS) with ?account=<id>."""
        if not credentials.hosted_reauth_available() or not settings.MOBILE_DEEP_LINKS:
            raise Http404()  # v1 API, or no app link configured: there is no way back into the app
        form = HostedSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return_to = form.validated_data.get("return_to") or settings.MOBILE_DEEP_LINKS[0]
        index = settings.MOBILE_DEEP_LINKS.index(return_to)
        # Our own address from settings, never from the request's Host header: Mono sends the user there.
        redirect_url = settings.SITE_URL + reverse("api:reauth_returned", args=[account_id, index])
        try:
            deadline = Deadline.after(settings.MONO_REQUEST_DEADLINE)
            url = credentials.start_hosted_reauth(
                user=request.user, account_id=account_id, redirect_url=redirect_url, deadline=deadline
            )
        except LinkedAccount.DoesNotExist:
            raise not_flagged(request, account_id) from None
        except MonoError as exc:
            log.warning("hosted re-auth failed account=%s error=%s", account_id, type(exc).__name__)
            raise MonoFailed(exc) from None
        return Response(HostedAnswerSerializer({"url": url, "return_to": return_to}).data)


class DeepLinkRedirect(HttpResponseRedirect):
    """A redirect to an app link: Django allows only http(s) and ftp, an app's scheme is its own."""

    def __init__(self, url: str):
        self.allowed_schemes = [url.split("://", 1)[0].lower()]
        super().__init__(url)


class HostedReturned(ApiView):
    authentication_classes: list = []  # an in-app browser carries no token; nothing here is private
    permission_classes = [AllowAny]

    @extend_schema(operation_id="reauth_returned", responses={302: OpenApiResponse(description="To the app.")})
    def get(self, request, account_id: int, link: int):
        """Mono's hosted page returns here (our redirect_url); we send the browser on to the app's
        link from the allow-list, with the account. The app then polls the account's state."""
        if link >= len(settings.MOBILE_DEEP_LINKS):
            raise Http404()
        target = settings.MOBILE_DEEP_LINKS[link]
        separator = "&" if "?" in target else "?"
        return DeepLinkRedirect(target + separator + urlencode({"account": account_id, "status": "returned"}))
