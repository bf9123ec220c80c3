"""Sign-in and sign-out for a device: django-rest-knox tokens (shown once, stored hashed, expiring
after API_TOKEN_LIFETIME_SECONDS), behind the web sign-in's lockout (django-axes counts every
attempt through authenticate(request=...), per username and client address)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox import views as knox_views
from knox.models import AuthToken
from rest_framework import exceptions
from rest_framework.permissions import AllowAny

from monolink.security import lockout_response

from .base import ApiSettings
from .serializers import SignInSerializer, TokenSerializer


class WrongCredentials(exceptions.AuthenticationFailed):
    default_detail = "Wrong username or password."
    default_code = "wrong-credentials"


class SignIn(ApiSettings, knox_views.LoginView):
    authentication_classes: list = []  # the credentials are in the body
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'  # a wrong password is a 401, with the scheme to use next

    @extend_schema(operation_id="auth_sign_in", request=SignInSerializer, responses={200: TokenSerializer})
    def post(self, request, format=None):
        """A token for this device. Five wrong passwords for a username from one address pause it
        (429), as on the web sign-in page."""
        form = SignInSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = authenticate(request._request, **form.validated_data)  # axes counts it here
        if getattr(request._request, "axes_locked_out", False):
            return lockout_response(request._request, None, None)
        if user is None:
            raise WrongCredentials()
        AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()  # the device tokens that died
        request.user = user
        return super().post(request, format)


class SignOut(ApiSettings, knox_views.LogoutView):
    @extend_schema(operation_id="auth_sign_out", request=None, responses={204: OpenApiResponse(description="Done.")})
    def post(self, request, format=None):
        """End this device's token."""
        return super().post(request, format)


class SignOutAll(ApiSettings, knox_views.LogoutAllView):
    @extend_schema(
        operation_id="auth_sign_out_all", request=None, responses={204: OpenApiResponse(description="Done.")}
    )
    def post(self, request, format=None):
        """End every device's token for this user."""
        return super().post(request, format)
