from django.apps import AppConfig


class MonolinkConfig(AppConfig):
    """The project's own wiring: system checks, the SQLite file's permissions, `run_worker`."""

    name = "monolink"
    verbose_name = "monolink"

    def ready(self):
        from django.db.backends.signals import connection_created

        from . import checks  # noqa: F401  (registers the system checks)
        from .security import restrict_sqlite_file

        connection_created.connect(restrict_sqlite_file, dispatch_uid="monolink.restrict_sqlite_file")
