from django.urls import path

from . import linking, pages, reauth

app_name = "web"
urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("reconnect/", reauth.reauth, name="reauth"),
    path("reconnect/status/", reauth.reauth_status, name="reauth_status"),
    path("reconnect/<int:account_id>/credential/", reauth.reauth_credential, name="reauth_credential"),
    path("reconnect/<int:account_id>/complete/", reauth.reauth_complete, name="reauth_complete"),
    path("reconnect/<int:account_id>/hosted/", reauth.reauth_hosted, name="reauth_hosted"),
    path("reconnect/<int:account_id>/returned/", reauth.reauth_returned, name="reauth_returned"),
    path("link/complete/", linking.link_complete, name="link_complete"),
    path("link/attempts/<int:attempt_id>/", linking.link_status, name="link_status"),
]
