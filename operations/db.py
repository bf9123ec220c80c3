from django.conf import settings
from django.db import connection


def set_statement_timeout() -> None:
    """Inside a transaction: a scrape or probe that cannot finish in time gives up on the server
    too, not only in Python (SQLite has no such limit; its queries here are local and indexed)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", [int(settings.HEALTH_CHECK_TIMEOUT * 1000)])
