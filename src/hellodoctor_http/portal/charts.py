"""Bar charts drawn on the server as SVG (no script, no inline style: the CSP stays strict).

``bar_chart`` turns a day-by-day series into geometry (bars, axis ticks, labels) that
``templates/bar_chart.html`` writes out as ``<svg role="img">`` with a title and a
description; every chart is followed by the same numbers as a table, for screen readers and
for anyone who wants the figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from attrs import define

WIDTH = 640
HEIGHT = 240
LEFT = 48  # room for the value axis' labels
BOTTOM = 28  # room for the day labels
TOP = 12
RIGHT = 8
TICKS = 4


@define(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the day, for the bar's <title>
    value: str


@define(frozen=True)
class Tick:
    y: float
    label: str


@define(frozen=True)
class DayLabel:
    x: float
    label: str


@define(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    baseline: float
    left: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    days: tuple[DayLabel, ...]
    empty: bool


def _nice_top(peak: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``peak`` (at least 1)."""
    if peak <= 1:
        return 1.0
    scale = 1.0
    while scale * 10 <= peak:
        scale *= 10
    for step in (1, 2, 5, 10):
        if step * scale >= peak:
            return step * scale
    return 10 * scale  # pragma: no cover - the loop always returns


def bar_chart(
    title: str,
    series: Sequence[tuple[date, float]],
    shown: str = "{:g}",
    *,
    whole: bool = False,
) -> BarChart:
    """One bar per day of ``series`` (values not negative: a negative one is drawn as 0);
    ``shown`` formats a value for the ticks and the bars' titles. ``whole``: counts, so the
    top is a multiple of the ticks and every tick a whole number."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    peak = max((max(value, 0.0) for _day, value in series), default=0.0)
    top = TICKS * max(1, math.ceil(peak / TICKS)) if whole else _nice_top(peak)
    slot = plot_width / max(len(series), 1)
    gap = min(slot * 0.2, 6.0)
    bars = []
    for index, (day, value) in enumerate(series):
        height = plot_height * max(value, 0.0) / top
        bars.append(
            Bar(
                x=round(LEFT + index * slot + gap / 2, 2),
                y=round(baseline - height, 2),
                width=round(max(slot - gap, 1.0), 2),
                height=round(height, 2),
                label=day.isoformat(),
                value=shown.format(value),
            )
        )
    ticks = tuple(
        Tick(round(baseline - plot_height * n / TICKS, 2), shown.format(top * n / TICKS))
        for n in range(TICKS + 1)
    )
    # At most about eight day labels, so they never overlap.
    every = max(1, -(-len(series) // 8))
    days = tuple(
        DayLabel(round(LEFT + index * slot + slot / 2, 2), day.strftime("%d %b"))
        for index, (day, _value) in enumerate(series)
        if index % every == 0
    )
    return BarChart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        baseline=baseline,
        left=LEFT,
        bars=tuple(bars),
        ticks=ticks,
        days=days,
        empty=peak == 0,
    )
