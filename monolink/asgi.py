import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolink.settings")
application = get_asgi_application()

from monolink.middleware import AsgiMachineRoutes  # noqa: E402 (needs the settings above)

application = AsgiMachineRoutes(application)
