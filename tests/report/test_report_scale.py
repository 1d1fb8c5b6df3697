"""Chart scales and geometry: ticks at round values, log axes for wide ranges, bars proportional to values."""

from __future__ import annotations

import pytest

from rnnbench.report.scale import scale_for, short_number
from rnnbench.report.svg import BarItem, LineData, bar_chart, line_chart


@pytest.mark.parametrize(("value", "text"), [(0, "0"), (0.00123, "0.00123"), (42, "42"), (12_500, "12.5k"),
                                             (3e6, "3M"), (2.5e9, "2.5G"), (-1500, "-1.5k")])
def test_short_number(value, text):
    assert short_number(value) == text


def test_linear_scale_starts_at_zero_with_round_ticks():
    scale = scale_for([0.5, 7.3], 0, 100)
    assert (scale.low, scale.high, scale.log) == (0, 8, False)
    assert scale.ticks() == [(0.0, "0"), (25.0, "2"), (50.0, "4"), (75.0, "6"), (100.0, "8")]


def test_wide_range_turns_logarithmic():
    scale = scale_for([15, 52_000], 0, 400)
    assert (scale.low, scale.high, scale.log) == (10, 100_000, True)
    assert [label for _, label in scale.ticks()] == ["10", "100", "1k", "10k", "100k"]
    assert scale(1000) == pytest.approx(200)


def test_a_y_scale_grows_upwards():
    scale = scale_for([2.0, 4.0], 240, 12, zero=False)
    assert scale(scale.low) == 240 and scale(scale.high) == 12 and scale(3.0) == pytest.approx(126)


def test_bars_are_proportional_and_whiskers_span_the_interval():
    chart = bar_chart("t", "samples/s", [BarItem("a", 1.0, 0.9, 1.1, "#000", "a"),
                                          BarItem("b", 2.0, None, None, "#111", "b")], [("a", "#000")])
    a, b = chart.rects
    assert b.w == pytest.approx(2 * a.w) and len(chart.whiskers) == 3  # only "a" has an interval
    left = chart.plot[0]
    assert (chart.whiskers[0].x1 - left) / a.w == pytest.approx(0.9) and (chart.whiskers[0].x2 - left) / a.w == \
        pytest.approx(1.1)


def test_line_chart_puts_ticks_at_the_swept_values():
    line = LineData("numpy", "#000", ((8.0, 1.0, None, None, ""), (16.0, 2.0, None, None, ""),
                                      (32.0, 4.0, None, None, "")))
    chart = line_chart("t", "hidden size", "ms", [line], x_values=[8, 16, 32])
    assert [t.label for t in chart.x_ticks] == ["8", "16", "32"]
    xs = [p.x for p in chart.series[0].points]
    assert (xs[1] - xs[0]) * 2 == pytest.approx(xs[2] - xs[1])  # a linear x axis
