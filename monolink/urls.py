from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from web.pages import PasswordResetConfirmView, PasswordResetView, SignInView

urlpatterns = [
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # "Forgot password?": Django's own views and tokens; the request view adds a throttle.
    path("accounts/password-reset/", PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", admin.site.urls),
    path("", include("operations.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("anymail/", include("notifications.urls")),  # the email provider's tracking webhook
    path("api/", include("api.urls")),  # the mobile API (docs/mobile.md)
    path("", include("web.urls")),
]

# The error pages in the site's look; 404 and 403 are Django's handlers with templates/404.html, 403.html.
handler500 = "web.errors.server_error"

if settings.MONO_SANDBOX:  # the fake Mono the sandbox widget talks to; never mounted with real keys
    urlpatterns.insert(0, path("sandbox/", include("monolink.mono.sandbox_views")))
