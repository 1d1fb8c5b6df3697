"""Axis scales for the inline SVG charts: data values to pixels, and readable ticks.

Throughput across frameworks easily spans three orders of magnitude (a fused
kernel against a Python cell loop), so a scale turns logarithmic when the
largest value passes ``LOG_RATIO`` times the smallest; otherwise it is
linear and starts at zero, so bar lengths stay proportional to the values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LOG_RATIO = 30.0  # max/min above which bars on a linear axis would hide the small ones


def short_number(value: float) -> str:
    """A tick label: 3 significant digits with k/M/G for large values (12.5k, 3M)."""
    if value == 0:
        return "0"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _nice_step(span: float, count: int) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``count`` intervals over ``span``."""
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


@dataclass(frozen=True)
class Scale:
    """Maps [low, high] in data units onto [start, end] in pixels (start may exceed end: y grows down)."""

    low: float
    high: float
    start: float
    end: float
    log: bool

    def __call__(self, value: float) -> float:
        if self.log:
            value, low, high = (math.log10(max(v, 1e-300)) for v in (value, self.low, self.high))
        else:
            low, high = self.low, self.high
        fraction = (value - low) / (high - low) if high != low else 0.5
        return self.start + min(max(fraction, 0.0), 1.0) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        """(pixel, label) pairs at round values inside the scale."""
        values = self._log_ticks() if self.log else self._linear_ticks()
        return [(round(self(v), 1), short_number(v)) for v in values]

    def _linear_ticks(self) -> list[float]:
        if self.high == self.low:
            return [self.low]
        step = _nice_step(self.high - self.low, 5)
        first = math.ceil(self.low / step - 1e-9)
        return [k * step for k in range(first, int(math.floor(self.high / step + 1e-9)) + 1)]

    def _log_ticks(self) -> list[float]:
        decades = range(math.floor(math.log10(self.low)), math.ceil(math.log10(self.high)) + 1)
        # Few decades: 1-2-5 ticks, so the axis keeps some labels; many: powers of ten only.
        multipliers = (1, 2, 5) if len(decades) <= 3 else (1,)
        values = [m * 10.0 ** d for d in decades for m in multipliers]
        return [v for v in values if self.low * (1 - 1e-9) <= v <= self.high * (1 + 1e-9)]


def scale_for(values: Sequence[float], start: float, end: float, *, zero: bool = True,
              allow_log: bool = True) -> Scale:
    """A scale covering ``values`` (finite ones), logarithmic when they span more than ``LOG_RATIO``."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return Scale(0.0, 1.0, start, end, log=False)
    low, high = min(finite), max(finite)
    if allow_log and low > 0 and high / low > LOG_RATIO:
        return Scale(10.0 ** math.floor(math.log10(low)), 10.0 ** math.ceil(math.log10(high)), start, end, log=True)
    low = min(low, 0.0) if zero else low
    if high == low:
        high = low + (abs(low) or 1.0)
    step = _nice_step(high - low, 5)
    return Scale(math.floor(low / step) * step, math.ceil(high / step) * step, start, end, log=False)
