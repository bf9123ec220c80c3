"""Linking a new bank from the app: the SDK's code exchanged through linking.services.start_link
(the rule the web page uses), and the attempt's status to poll while Mono is slow."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from accounts.models import LinkAttempt
from linking import services
from linking.exchange import LinkCodeTaken
from monolink.mono import Deadline

from .base import ApiView
from .problems import Conflict, Unprocessable
from .serializers import AttemptSerializer, LinkSerializer
from .throttles import LinkThrottle


def attempt_answer(attempt: LinkAttempt) -> dict:
    return AttemptSerializer(
        {**services.attempt_state(attempt), "status_url": reverse("api:link_status", args=[attempt.pk])}
    ).data


class Links(ApiView):
    throttle_classes = [LinkThrottle]

    @extend_schema(
        operation_id="links_create", request=LinkSerializer, responses={201: AttemptSerializer, 202: AttemptSerializer}
    )
    def post(self, request):
        """The SDK's onSuccess code for a new link: 201 once linked, or 202 while Mono is slow (the
        code is kept and a background task finishes; poll status_url). Posting a code twice is safe."""
        form = LinkSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            attempt = services.start_link(
                user=request.user,
                code=form.validated_data["code"],
                institution_name=form.validated_data["institution"],
                deadline=Deadline.after(settings.MONO_REQUEST_DEADLINE),
            )
        except LinkCodeTaken as exc:
            raise Conflict(str(exc)) from None
        answer = attempt_answer(attempt)
        if attempt.status == LinkAttempt.Status.FAILED:
            # Mono took the code but the account is another user's (409), or Mono refused the code (422).
            raise (Conflict if attempt.mono_account_id else Unprocessable)(answer["message"])
        code = status.HTTP_202_ACCEPTED if attempt.status == LinkAttempt.Status.PENDING else status.HTTP_201_CREATED
        return Response(answer, status=code)


class LinkStatus(ApiView):
    @extend_schema(operation_id="links_retrieve", responses=AttemptSerializer)
    def get(self, request, attempt_id: int):
        """What became of one of the user's link attempts."""
        attempt = get_object_or_404(LinkAttempt.objects.for_user(request.user), pk=attempt_id)
        return Response(attempt_answer(attempt))
