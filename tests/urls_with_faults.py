"""The site's URLs plus two views that fail, to see the error pages a real fault produces."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from monolink.urls import handler500  # noqa: F401 (handler500: the site's own)
from monolink.urls import urlpatterns as site_urls


def fault(request):
    raise RuntimeError("a bug in a view")


def forbidden(request):
    raise PermissionDenied("not yours")


urlpatterns = [path("fault/", fault), path("forbidden/", forbidden), *site_urls]
