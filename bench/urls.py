"""The benchmark URLconf: the whole app plus the two comparison views, under /bench/."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("bench/bare/", views.bare, name="bench-bare"),
    path("bench/durable/", views.durable, name="bench-durable"),
    path("", include("monolink.urls")),
]
