from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("reconnect/", views.reauth, name="reauth"),
    path("reconnect/<int:account_id>/complete/", views.reauth_complete, name="reauth_complete"),
    path("link/complete/", views.link_complete, name="link_complete"),
    path("link/attempts/<int:attempt_id>/", views.link_status, name="link_status"),
]
