"""The admin site: Django's own, with the staff overview on its index page."""

from __future__ import annotations

from django.contrib import admin
from django.utils.formats import date_format

from . import charts, overview


class MonolinkAdminSite(admin.AdminSite):
    site_header = "monolink staff"
    site_title = "monolink staff"
    index_title = "Overview"

    def index(self, request, extra_context=None):
        figures = overview.build()
        labels = [date_format(day.day, "j M") for day in figures.days]
        context = {
            "overview": figures,
            "daily_chart": charts.grouped_columns(
                labels,
                {
                    "flags": [day.flags for day in figures.days],
                    "reconnections": [day.reconnections for day in figures.days],
                },
            ),
            "banks_chart": charts.horizontal_bars(figures.banks),
            **(extra_context or {}),
        }
        return super().index(request, context)
