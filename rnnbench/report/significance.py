"""Is a change in step time real? A Mann-Whitney U test and a bootstrap interval of the ratio of medians.

Timing samples are skewed and carry outliers, so the test is on ranks, not
means: ``scipy.stats.mannwhitneyu``, two-sided, method "auto" (the exact
null distribution when one sample has at most 8 values and there are no
ties, else the normal approximation with tie and continuity corrections).
The interval is ``scipy.stats.bootstrap``'s percentile interval of
median(new) / median(base), each side resampled independently, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbench.results.stats import CONFIDENCE, RESAMPLES

EXACT_MAX = 8  # scipy's "auto": the exact distribution when the smaller sample has at most this many values


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting one half
    p_value: float  # two-sided
    method: str  # "exact" or "normal"


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> MannWhitney:
    """Two-sided Mann-Whitney U test of ``x`` against ``y`` (each at least one value)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        raise ValueError(f"Mann-Whitney U needs values in both samples; got {x.size} and {y.size}")
    both = np.concatenate([x, y])
    ties = np.unique(both).size < both.size
    method = "exact" if min(x.size, y.size) <= EXACT_MAX and not ties else "normal"
    if np.all(both == both[0]):  # every value equal: no evidence of any difference (scipy's variance is 0)
        return MannWhitney(x.size * y.size / 2.0, 1.0, method)
    result = stats.mannwhitneyu(x, y, alternative="two-sided", method="exact" if method == "exact" else "asymptotic")
    return MannWhitney(float(result.statistic), float(result.pvalue), method)


def ratio_interval(base: np.ndarray, new: np.ndarray, confidence: float = CONFIDENCE,
                   resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new) / median(base), resampling each independently."""
    from scipy import stats

    def ratio(b: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(n, axis=axis) / np.median(b, axis=axis)

    base, new = np.asarray(base, dtype=np.float64), np.asarray(new, dtype=np.float64)
    if np.ptp(base) == 0 and np.ptp(new) == 0:  # nothing to resample: the ratio is exact
        value = float(ratio(base, new))
        return value, value
    result = stats.bootstrap((base, new), ratio, n_resamples=resamples, confidence_level=confidence,
                             method="percentile", vectorized=True, paired=False,
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
