from django.urls import path

from . import reauth_views, views

app_name = "accounts"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("reconnect/", reauth_views.reauth, name="reauth"),
    path("reconnect/status/", reauth_views.reauth_status, name="reauth_status"),
    path("reconnect/<int:account_id>/credential/", reauth_views.reauth_credential, name="reauth_credential"),
    path("reconnect/<int:account_id>/complete/", views.reauth_complete, name="reauth_complete"),
    path("reconnect/<int:account_id>/hosted/", reauth_views.reauth_hosted, name="reauth_hosted"),
    path("reconnect/<int:account_id>/returned/", reauth_views.reauth_returned, name="reauth_returned"),
    path("link/complete/", views.link_complete, name="link_complete"),
    path("link/attempts/<int:attempt_id>/", views.link_status, name="link_status"),
]
