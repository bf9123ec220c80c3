from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and linked accounts"

    def ready(self):
        from django.db.backends.signals import connection_created

        from monolink.security import restrict_sqlite_file

        from . import checks  # noqa: F401  (registers the system checks)

        connection_created.connect(restrict_sqlite_file, dispatch_uid="monolink.restrict_sqlite_file")
