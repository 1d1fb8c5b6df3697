"""Is a change in step time real? A Mann-Whitney U test and a bootstrap interval of the ratio of medians.

Timing samples are skewed and carry outliers, so the test is on ranks, not
means. ``mann_whitney_u`` follows the usual conventions (those of
``scipy.stats.mannwhitneyu``, two-sided, method "auto"): the exact null
distribution when one sample has at most 8 values and there are no ties,
else the normal approximation with tie and continuity corrections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnnbench.results.stats import CONFIDENCE, RESAMPLES, bootstrap_medians

EXACT_MAX = 8  # the exact distribution when the smaller sample has at most this many values and no ties


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting one half
    p_value: float  # two-sided
    method: str  # "exact" or "normal"


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks from 1, tied values sharing their average rank; and the size of each group of ties."""
    order = np.argsort(values, kind="mergesort")
    _, starts, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks, counts


def _exact_sf(u: float, m: int, n: int) -> float:
    """P(U >= u) under the null hypothesis, for samples of sizes m and n without ties.

    dist[j] is the distribution of U for (i, j) values: the largest of all
    values is an x with probability i/(i+j) (then it beats all j y's) or a y.
    """
    m, n = min(m, n), max(m, n)  # U has the same null distribution either way round
    previous = [np.ones(1) for _ in range(n + 1)]  # i = 0: U is 0
    for i in range(1, m + 1):
        current = [np.ones(1)]
        for j in range(1, n + 1):
            x_last = np.concatenate([np.zeros(j), previous[j]]) * (i / (i + j))
            y_last = np.concatenate([current[j - 1], np.zeros(i)]) * (j / (i + j))
            current.append(x_last + y_last)  # length i*j + 1
        previous = current
    dist = previous[n]
    return float(dist[int(math.ceil(u - 1e-9)):].sum())


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> MannWhitney:
    """Two-sided Mann-Whitney U test of ``x`` against ``y`` (each at least one value)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        raise ValueError(f"Mann-Whitney U needs values in both samples; got {n1} and {n2}")
    ranks, ties = _ranks(np.concatenate([x, y]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    big = max(u1, n1 * n2 - u1)  # the two-sided p-value is twice the tail beyond the larger U
    if min(n1, n2) <= EXACT_MAX and np.all(ties == 1):
        return MannWhitney(u1, min(1.0, 2.0 * _exact_sf(big, n1, n2)), "exact")
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - float(np.sum(ties**3 - ties)) / (n * (n - 1)))
    if variance <= 0:  # every value equal: no evidence of any difference
        return MannWhitney(u1, 1.0, "normal")
    z = (big - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return MannWhitney(u1, min(1.0, 2.0 * _normal_sf(z)), "normal")


def ratio_interval(base: np.ndarray, new: np.ndarray, confidence: float = CONFIDENCE,
                   resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new) / median(base), resampling each independently."""
    base, new = np.asarray(base, dtype=np.float64), np.asarray(new, dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(seed))
    base_medians = bootstrap_medians(base, rng, resamples)
    new_medians = bootstrap_medians(new, rng, resamples)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(new_medians / base_medians, [tail, 1.0 - tail])
    return float(low), float(high)
