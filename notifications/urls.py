"""/anymail/<provider>/tracking/: mounted for EMAIL_TRACKING_PROVIDER only (notifications.tracking)."""

from django.conf import settings

from .tracking import tracking_patterns

app_name = "anymail"
urlpatterns = tracking_patterns(settings.EMAIL_TRACKING_PROVIDER) if settings.EMAIL_TRACKING_PROVIDER else []
