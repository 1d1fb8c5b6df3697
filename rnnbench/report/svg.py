"""Chart geometry for the inline SVG charts: positions in pixels, labels as plain strings.

Nothing here writes markup: ``templates/charts.html.j2`` draws these values,
and Jinja2's autoescaping escapes every label and tooltip on the way out.
Coordinates live in a fixed ``viewBox``; the SVG scales to its container.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

from rnnbench.report.scale import Scale, scale_for, short_number

WIDTH = 640.0
LEFT = 64.0  # room for y tick labels
LABEL_WIDTH = 190.0  # room for category labels of horizontal bars
RIGHT, TOP, BOTTOM = 16.0, 12.0, 44.0
BAR_ROW = 22.0
PLOT_HEIGHT = 240.0
LABEL_CHARS = 30  # category labels longer than this are cut (the tooltip keeps the whole text)
# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str
    tip: str


@dataclass(frozen=True)
class Segment:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    tip: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Chart:
    """Everything the template draws for one chart."""

    title: str
    width: float
    height: float
    plot: tuple[float, float, float, float]  # left, top, right, bottom of the plotting area
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    x_title: str
    y_title: str
    rects: tuple[Rect, ...] = ()
    whiskers: tuple[Segment, ...] = ()
    labels: tuple[Label, ...] = ()  # category labels left of horizontal bars
    series: tuple[Series, ...] = ()
    legend: tuple[tuple[str, str], ...] = ()  # (label, colour)
    dots: tuple[Point, ...] = ()  # single values beside a bar: each process of a case


@dataclass(frozen=True)
class BarItem:
    label: str
    value: float
    low: float | None  # interval; None: no whisker
    high: float | None
    color: str
    tip: str
    points: tuple[float, ...] = ()  # the values the bar summarises (each process's), drawn as dots on it


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _axis_title(title: str, scale: Scale) -> str:
    return f"{title} (log scale)" if scale.log else title


def bar_chart(title: str, axis: str, items: Sequence[BarItem], legend: Sequence[tuple[str, str]]) -> Chart:
    """Horizontal bars, one per item, with interval whiskers; the value axis runs along the bottom.

    An item without a finite value draws no bar, and one without finite bounds no whisker: NaN coordinates
    would reach the page as ``x1="nan"``.
    """
    items = [i for i in items if finite(i.value)]
    left, right = LABEL_WIDTH, WIDTH - RIGHT
    height = TOP + BAR_ROW * len(items) + BOTTOM
    bottom = height - BOTTOM
    values = [v for i in items for v in (i.value, i.low, i.high, *i.points) if finite(v)]
    scale = scale_for(values, left, right)
    rects, whiskers, labels, dots = [], [], [], []
    for n, item in enumerate(items):
        top = TOP + n * BAR_ROW + 3
        rects.append(Rect(left, top, max(scale(item.value) - left, 0.5), BAR_ROW - 6, item.color, item.tip))
        labels.append(Label(left - 6, top + (BAR_ROW - 6) / 2 + 4, _cut(item.label), item.label))
        if finite(item.low) and finite(item.high):
            whiskers.extend(_whisker_h(scale(item.low), scale(item.high), top + (BAR_ROW - 6) / 2))
        dots += [Point(scale(v), top + (BAR_ROW - 6) / 2, f"{item.label}: process {n + 1}: {short_number(v)}")
                 for n, v in enumerate(item.points) if finite(v)]
    x_ticks = tuple(Tick(p, t) for p, t in scale.ticks())
    return Chart(title, WIDTH, height, (left, TOP, right, bottom), x_ticks, (), _axis_title(axis, scale), "",
                 tuple(rects), tuple(whiskers), tuple(labels), legend=tuple(legend), dots=tuple(dots))


def _whisker_h(x1: float, x2: float, y: float) -> list[Segment]:
    return [Segment(x1, y, x2, y), Segment(x1, y - 4, x1, y + 4), Segment(x2, y - 4, x2, y + 4)]


@dataclass(frozen=True)
class LineData:
    label: str
    color: str
    points: tuple[tuple[float, float, float | None, float | None, str], ...]  # x, y, y low, y high, tooltip


def line_chart(title: str, x_title: str, y_title: str, lines: Sequence[LineData], *,
               x_values: Sequence[float] | None = None) -> Chart:
    """Lines of (x, y) points with markers and optional y intervals; ``x_values``: ticks at those x.

    Points without finite coordinates are left out, and bounds that are not finite draw no whisker.
    """
    lines = [_finite_line(line) for line in lines]
    x_values = [x for x in x_values if finite(x)] if x_values else None
    left, top, right, bottom = LEFT, TOP, WIDTH - RIGHT, TOP + PLOT_HEIGHT
    xs = [p[0] for line in lines for p in line.points]
    ys = [v for line in lines for p in line.points for v in (p[1], p[2], p[3]) if v is not None]
    x_scale = scale_for(xs, left, right, zero=False, allow_log=False)
    y_scale = scale_for(ys, bottom, top, zero=False)
    series = tuple(Series(line.label, line.color, tuple(Point(x_scale(x), y_scale(y), tip)
                                                         for x, y, _, _, tip in line.points)) for line in lines)
    whiskers = tuple(s for line in lines for x, _, low, high, _ in line.points if low is not None
                     and high is not None for s in _whisker_v(x_scale(x), y_scale(low), y_scale(high)))
    x_ticks = (tuple(Tick(round(x_scale(v), 1), short_number(v)) for v in sorted(set(x_values)))
               if x_values else tuple(Tick(p, t) for p, t in x_scale.ticks()))
    return Chart(title, WIDTH, bottom + BOTTOM, (left, top, right, bottom), x_ticks,
                 tuple(Tick(p, t) for p, t in y_scale.ticks()), x_title, _axis_title(y_title, y_scale),
                 whiskers=whiskers, series=series, legend=tuple((line.label, line.color) for line in lines))


def _finite_line(line: LineData) -> LineData:
    points = tuple((x, y, low, high, tip) if finite(low) and finite(high) else (x, y, None, None, tip)
                   for x, y, low, high, tip in line.points if finite(x) and finite(y))
    return LineData(line.label, line.color, points)


def _whisker_v(x: float, y1: float, y2: float) -> list[Segment]:
    return [Segment(x, y1, x, y2), Segment(x - 4, y1, x + 4, y1), Segment(x - 4, y2, x + 4, y2)]


def finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)
