"""Geometry for the small SVG charts on the staff overview, drawn by the template.

Server-rendered SVG (no script, no inline style: the Content-Security-Policy allows neither), so the
numbers are computed here and the template only places rectangles. Written by hand because a
charting library would bring a script (Chart.js) or a heavy dependency (matplotlib) for a few bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str
    series: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    top: int  # the value the full height stands for
    ticks: list[tuple[float, str]]  # (x, label) under the bars: x is the centre of the label's day
    gridlines: list[tuple[float, int]] = ()  # (y, value) for the y-axis, from 0 up to `top`


def _nice_top(largest: int) -> int:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least the largest value (and at least 1)."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if magnitude * step >= largest:
                return magnitude * step
        magnitude *= 10


def grouped_columns(
    labels: Sequence[str],
    series: dict[str, Sequence[int]],
    *,
    width: int = 600,
    height: int = 160,
    tick_every: int = 7,
) -> Chart:
    """Columns per label, one per series side by side; an empty series draws nothing, not a fake bar."""
    count = len(labels)
    slot = width / max(count, 1)
    bar_width = slot * 0.8 / max(len(series), 1)
    top = _nice_top(max((v for values in series.values() for v in values), default=0))
    bars = []
    for i, label in enumerate(labels):
        for j, (name, values) in enumerate(series.items()):
            value = values[i]
            bar_height = height * value / top
            x = i * slot + slot * 0.1 + j * bar_width
            bars.append(
                Bar(
                    round(x, 2),
                    round(height - bar_height, 2),
                    round(bar_width, 2),
                    round(bar_height, 2),
                    value,
                    label,
                    name,
                )
            )
    # Centred under the day's own columns (drawn with text-anchor: middle).
    ticks = [(round((i + 0.5) * slot, 2), labels[i]) for i in range(0, count, tick_every)]
    return Chart(width=width, height=height, bars=bars, top=top, ticks=ticks, gridlines=_gridlines(top, height))


def _gridlines(top: int, height: int) -> list[tuple[float, int]]:
    """0, the middle and the top of the axis; only whole numbers (a top of 1 gets 0 and 1)."""
    values = [0, top // 2, top] if top % 2 == 0 else [0, top]
    return [(round(height - height * value / top, 2), value) for value in values]


def horizontal_bars(items: Sequence[tuple[str, int]], *, width: int = 400, row: int = 22) -> Chart:
    """One bar per (label, value), longest first as given; labels are drawn beside by the template."""
    top = _nice_top(max((value for _label, value in items), default=0))
    bars = [
        Bar(0, i * row, round(width * value / top, 2), row - 6, value, label, "bank")
        for i, (label, value) in enumerate(items)
    ]
    return Chart(width=width, height=max(len(items), 1) * row, bars=bars, top=top, ticks=[])
