"""A URL map with every documented provider's tracking webhook mounted, as the site mounts its one
(notifications.urls): the same views, the same wrapper, so each provider's own payloads can be tested."""

from django.urls import include, path

from notifications.tracking import URL_NAMES, tracking_patterns

urlpatterns = [path("anymail/", include((tracking_patterns(*URL_NAMES), "anymail")))]
