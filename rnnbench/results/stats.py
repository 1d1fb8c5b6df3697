"""Summaries of timing samples: median, spread and a bootstrap confidence interval.

Medians, not means: a shared machine adds long, rare stalls that a mean
would smear over every backend. The interval is scipy's percentile
bootstrap of the median with a fixed seed, so the same samples always give
the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000
# pyperf warns when the spread passes 10% of the centre; so do we (IQR over median).
UNSTABLE_SPREAD = 0.10


@dataclass(frozen=True)
class Summary:
    """Location and spread of one set of samples (seconds, or any unit)."""

    n: int
    median: float
    q1: float
    q3: float
    mean: float
    stdev: float
    min: float
    max: float
    ci_low: float  # bootstrap interval of the median
    ci_high: float
    confidence: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def relative_spread(self) -> float:
        """IQR over median: 0.1 means the middle half of samples spans 10% of the median."""
        return self.iqr / self.median if self.median else float("inf")

    @property
    def unstable(self) -> bool:
        return self.relative_spread > UNSTABLE_SPREAD

    def to_dict(self) -> dict[str, float]:
        return asdict(self) | {"iqr": self.iqr, "relative_spread": self.relative_spread}


def bootstrap_median_interval(samples: np.ndarray, confidence: float = CONFIDENCE,
                              resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (``scipy.stats.bootstrap``, seeded)."""
    if np.ptp(samples) == 0:  # one sample, or all equal: every resample has the same median
        return float(samples[0]), float(samples[0])
    from scipy import stats

    result = stats.bootstrap((samples,), np.median, n_resamples=resamples, confidence_level=confidence,
                             method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(samples: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Summary of at least one finite sample."""
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"cannot summarise {values.size} samples with non-finite values; need >= 1 finite sample")
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    low, high = bootstrap_median_interval(values, confidence)
    stdev = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return Summary(n=int(values.size), median=float(median), q1=float(q1), q3=float(q3),
                   mean=float(values.mean()), stdev=stdev, min=float(values.min()), max=float(values.max()),
                   ci_low=low, ci_high=high, confidence=confidence)


LATENCY_QUANTILES = {"p50_s": 0.5, "p90_s": 0.9, "p99_s": 0.99}  # what a service is held to: median and tail


def latency_summary(samples: Sequence[float]) -> dict[str, float | int]:
    """Quantiles of per-call latencies (numpy's linear interpolation), the max and mean, and the count.

    With fewer than 100 calls the p99 lies between the two slowest: the count is kept beside it.
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"cannot summarise {values.size} latencies with non-finite values; need >= 1 finite one")
    quantiles = np.quantile(values, list(LATENCY_QUANTILES.values()))
    return {**{name: float(q) for name, q in zip(LATENCY_QUANTILES, quantiles, strict=True)},
            "max_s": float(values.max()), "mean_s": float(values.mean()), "calls": int(values.size)}
