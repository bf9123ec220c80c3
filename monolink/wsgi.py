import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolink.settings")
application = get_wsgi_application()

from monolink.middleware import MachineRoutes  # noqa: E402 (needs the settings above)

application = MachineRoutes(application)
