from django.urls import path, re_path
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny

from . import accounts, auth, linking, reauth
from .base import ApiView
from .schema import DocsView, SchemaView


class Unknown(ApiView):
    """Any other address under /api/: a 404 problem, not Django's HTML page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def initial(self, request, *args, **kwargs):
        raise NotFound("No such API address. The schema is at /api/schema/.")


app_name = "api"
v1 = [
    path("auth/sign-in/", auth.SignIn.as_view(), name="sign_in"),
    path("auth/sign-out/", auth.SignOut.as_view(), name="sign_out"),
    path("auth/sign-out-all/", auth.SignOutAll.as_view(), name="sign_out_all"),
    path("summary/", accounts.Summary.as_view(), name="summary"),
    path("accounts/", accounts.AccountList.as_view(), name="accounts"),
    path("accounts/<int:account_id>/", accounts.AccountDetail.as_view(), name="account"),
    path("accounts/<int:account_id>/reauth/", accounts.ReauthStatus.as_view(), name="reauth_status"),
    path("accounts/<int:account_id>/reauth/credential/", reauth.Credential.as_view(), name="reauth_credential"),
    path("accounts/<int:account_id>/reauth/complete/", reauth.Complete.as_view(), name="reauth_complete"),
    path("accounts/<int:account_id>/reauth/hosted/", reauth.Hosted.as_view(), name="reauth_hosted"),
    path("reauth/returned/<int:account_id>/<int:link>/", reauth.HostedReturned.as_view(), name="reauth_returned"),
    path("links/", linking.Links.as_view(), name="links"),
    path("links/<int:attempt_id>/", linking.LinkStatus.as_view(), name="link_status"),
]
urlpatterns = [
    *[path("v1/" + str(p.pattern), p.callback, name=p.name) for p in v1],
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^[\s\S]*$", Unknown.as_view(), name="unknown"),  # not ".": a %0A in the path is ours too
]
