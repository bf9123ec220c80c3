from django.urls import path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("mono/", views.MonoWebhookView.as_view(), name="mono"),
]
