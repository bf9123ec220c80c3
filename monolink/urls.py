from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import SignInView

urlpatterns = [
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("operations.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("", include("accounts.urls")),
]

if settings.MONO_SANDBOX:  # the fake Mono the sandbox widget talks to; never mounted with real keys
    urlpatterns.insert(0, path("sandbox/", include("monolink.mono.sandbox_views")))
