"""The two comparison rows of the benchmark table.

`bare` is the framework's ceiling: the full middleware stack, no database. `durable` is the least any
receiver that never loses an acknowledged event must do: commit the body in one transaction before
answering. Both are plain Django views behind the same middleware and server as the webhook.
"""

from django.db import connection, transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

DURABLE_TABLE = "bench_durable"


def create_durable_table() -> None:
    """A raw table, created by the benchmark, so the app's schema and migrations stay untouched."""
    id_column = "bigserial PRIMARY KEY" if connection.vendor == "postgresql" else "integer PRIMARY KEY AUTOINCREMENT"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {DURABLE_TABLE} (id {id_column}, body text NOT NULL)")


@csrf_exempt
def bare(request):
    return HttpResponse(b"ok", content_type="text/plain")


@csrf_exempt
@require_POST
def durable(request):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {DURABLE_TABLE} (body) VALUES (%s)", [request.body.decode("utf-8", "replace")])  # noqa: S608
    return HttpResponse(b"ok", content_type="text/plain")
