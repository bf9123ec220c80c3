"""What keeps staff lists fast on a million rows (PostgreSQL): no COUNT(*) over a big table, no facet
counts. Every big list's ModelAdmin mixes FastListMixin in; bench/admin_lists.py measures them.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a whole big table.

    Counting is capped at `cap` rows (`SELECT COUNT(*) FROM (… LIMIT cap+1)`), which costs at most
    `cap` index entries however large the table. An unfiltered list on PostgreSQL uses the
    planner's row estimate (pg_class.reltuples, kept fresh by autovacuum) when it is above the cap.
    `count_is_exact` tells the template to say "about" or "more than".
    """

    cap = 10_000
    count_is_exact = True
    count_is_estimate = False

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        estimate = self._estimate(qs)
        if estimate is not None and estimate > self.cap:
            self.count_is_exact = False
            self.count_is_estimate = True
            return estimate
        # values("pk") drops the list's annotations (subqueries) from the counted query.
        capped = qs.values("pk").order_by()[: self.cap + 1].count()
        if capped > self.cap:
            self.count_is_exact = False
            return self.cap
        return capped

    @staticmethod
    def _estimate(qs: QuerySet) -> int | None:
        connection = connections[qs.db]
        if connection.vendor != "postgresql" or qs.query.where:
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [qs.model._meta.db_table])
            row = cursor.fetchone()
        # -1: never analysed. Then the capped count is the honest answer.
        return int(row[0]) if row and row[0] >= 0 else None


class FastListMixin:
    """Lists that stay cheap on a big table (see the module docstring)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
