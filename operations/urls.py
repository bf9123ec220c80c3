from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.liveness, name="healthz"),
    path("readyz", views.ReadinessView.as_view(), name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]
