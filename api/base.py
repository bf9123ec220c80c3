"""What every API view shares, set on the views and not in REST_FRAMEWORK (the webhook endpoint
keeps its own answers): a device token, JSON in and out, problem documents for errors."""

from __future__ import annotations

from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from .authentication import DeviceTokenAuthentication
from .problems import exception_handler


class ApiSettings:
    """A mixin, so knox's sign-in and sign-out views get the same defaults as ours."""

    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    throttle_classes: list = []

    def get_exception_handler(self):
        return exception_handler


class ApiView(ApiSettings, APIView):
    pass
