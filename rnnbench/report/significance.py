"""Is a difference in step time real? A t-test on the logarithms of the processes' medians.

The unit of the test is the worker process, not the call. Calls of one
process share its state (memory layout, core placement, the machine's mood
while it ran), so they are not independent samples of a case's speed: on a
2-core VM two fresh processes of one case differed by up to 2.2x while the
calls inside each spread by 7% (``docs/measurement.md``), and tests over
pooled calls called 32 of 48 differences between two identical runs
significant. Each process contributes one value, the median of its samples.

Step times are positive and their spread grows with their size, so the test
works on logarithms: a ratio becomes a difference, and the interval of the
mean difference, exponentiated, is an interval of the ratio of geometric
means (Kalibera and Jones, "Rigorous benchmarking in reasonable time").

- Paired, where both sides ran in the same rounds of one run (the verdict's
  backends): the log ratio of each shared round, a one-sample t-test and
  its t interval. Pairing removes what a round shares (a slow spell of the
  machine falls on both sides of the pair).
- Unpaired otherwise (``rnnbench compare`` of two runs): Welch's t-test on
  the log medians and Welch's interval. Two runs also differ as wholes: the
  machine's speed drifts over minutes (two A/A runs of the default matrix on
  the development VM, back to back, differed by 3.7% over all cases), and
  no process of either run can see that. ``run_spread``, the standard
  deviation of a run's level (Kalibera and Jones' variance at the run
  level), adds 2 x run_spread^2 to the variance of the difference; ``rnnbench
  noise`` measures it on the user's machine.

p < ALPHA exactly when the interval excludes 1, so "significant" has one
meaning. One process on either side gives no test ("one process: not
tested"), and fewer than ``MIN_PROCESSES`` "too few processes": neither is
ever a speed-up or a slowdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnnbench.results.stats import CONFIDENCE

ALPHA = round(1.0 - CONFIDENCE, 12)  # 0.05: a test at the level of the reports' 95% intervals
MIN_PROCESSES = 3  # values per side (pairs, when paired) below which a t interval means nothing
ONE_PROCESS = "one process: not tested"
TOO_FEW = "too few processes"
NOT_SIGNIFICANT = "not significant"
PAIRED, UNPAIRED = "paired rounds", "processes"


@dataclass(frozen=True, kw_only=True)
class ProcessTest:
    """NEW against BASE over processes: the ratio of step times (above 1: NEW is slower) and the outcome."""

    ratio: float  # geometric mean of the ratios (paired) or ratio of geometric means (unpaired)
    error: float | None  # standard error of log(ratio), the run spread included; None without a test
    low: float | None  # 95% interval of the ratio; None without a test
    high: float | None
    p_value: float | None  # two-sided; None without a test
    n_base: int  # processes on each side (pairs, when paired)
    n_new: int
    basis: str  # PAIRED or UNPAIRED
    outcome: str  # "faster", "slower", "not significant", ONE_PROCESS or TOO_FEW

    @property
    def tested(self) -> bool:
        return self.p_value is not None


def process_test(base: Mapping[object, float], new: Mapping[object, float], paired: bool = False,
                 run_spread: float = 0.0) -> ProcessTest:
    """Test the per-process median step times of two sides, keyed by their round.

    ``paired``: the sides ran in the same rounds of one run, so the rounds both have are paired.
    ``run_spread``: the standard deviation of a whole run's log level, for two runs (unpaired).
    """
    base_values, new_values = _positive(base.values()), _positive(new.values())
    shared = sorted(set(base) & set(new), key=str)
    if paired and len(shared) >= MIN_PROCESSES:
        logs = np.log([new[r] for r in shared]) - np.log([base[r] for r in shared])
        return _paired(logs)
    ratio = float(np.exp(np.mean(np.log(new_values)) - np.mean(np.log(base_values))))
    n_base, n_new = base_values.size, new_values.size
    if min(n_base, n_new) < MIN_PROCESSES:
        outcome = ONE_PROCESS if min(n_base, n_new) == 1 else TOO_FEW
        return ProcessTest(ratio=ratio, error=None, low=None, high=None, p_value=None, n_base=n_base,
                           n_new=n_new, basis=UNPAIRED, outcome=outcome)
    return _welch(np.log(base_values), np.log(new_values), run_spread)


def _positive(values: object) -> np.ndarray:
    array = np.asarray(list(values), dtype=np.float64)  # type: ignore[call-overload]
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"a side of a test needs step times > 0; got {array.tolist()!r:.80}")
    return array


def _paired(logs: np.ndarray) -> ProcessTest:
    """One-sample t-test of the per-round log ratios against 0."""
    n = logs.size
    mean, error = float(np.mean(logs)), float(np.std(logs, ddof=1) / math.sqrt(n))
    return _tested(mean, error, n - 1, n, n, PAIRED)


def _welch(base: np.ndarray, new: np.ndarray, run_spread: float = 0.0) -> ProcessTest:
    """Welch's t-test of the mean log step times, with the Welch-Satterthwaite degrees of freedom, and the
    two runs' levels as a variance of their own (``run_spread``; its degrees of freedom left out, which
    keeps the test's, so it errs towards "not significant")."""
    vb, vn = np.var(base, ddof=1) / base.size, np.var(new, ddof=1) / new.size
    within = vb + vn
    df = float(within**2 / (vb**2 / (base.size - 1) + vn**2 / (new.size - 1))) if within > 0 else math.inf
    error = float(math.sqrt(within + 2 * run_spread**2))
    return _tested(float(np.mean(new) - np.mean(base)), error, df, base.size, new.size, UNPAIRED)


def _tested(mean: float, error: float, df: float, n_base: int, n_new: int, basis: str) -> ProcessTest:
    """The ratio exp(mean), its t interval and the two-sided p-value of mean / error."""
    from scipy import stats

    if error == 0:  # every value the same: the difference is exact (a fake clock), or there is none
        p_value, low, high = (1.0 if mean == 0 else 0.0), mean, mean
    else:
        p_value = float(2 * stats.t.sf(abs(mean) / error, df))
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * error
        low, high = mean - half, mean + half
    outcome = NOT_SIGNIFICANT
    if p_value < ALPHA:
        outcome = "slower" if mean > 0 else "faster"
    return ProcessTest(ratio=math.exp(mean), error=error, low=math.exp(low), high=math.exp(high), p_value=p_value,
                       n_base=n_base, n_new=n_new, basis=basis, outcome=outcome)


def estimate_run_spread(log_ratios: Sequence[float], errors: Sequence[float]) -> float:
    """The run-level standard deviation behind A/A comparisons of two runs: their log ratios spread by
    2 run_spread^2 beyond their processes' own standard errors (a method-of-moments estimate, >= 0)."""
    ratios, errs = np.asarray(log_ratios, dtype=np.float64), np.asarray(errors, dtype=np.float64)
    if ratios.size == 0:
        return 0.0
    return float(math.sqrt(max(0.0, float(np.mean(ratios**2 - errs**2)) / 2)))


def minimum_detectable_ratio(log_sd: float, processes: int, power: float = 0.8, paired: bool = False) -> float:
    """The smallest ratio of step times that ``processes`` a side find significant with probability ``power``.

    For a two-sided t-test at ALPHA of two sides with between-process spread ``log_sd`` (the
    standard deviation of log medians): (t_{1-alpha/2} + t_{power}) x the standard error of the
    mean difference (paired: ``log_sd`` is the spread of the per-round log ratios).
    """
    from scipy import stats

    if processes < 2:
        return math.inf
    df = processes - 1 if paired else 2 * processes - 2
    error = log_sd * math.sqrt((1 if paired else 2) / processes)
    return math.exp((float(stats.t.ppf(1 - ALPHA / 2, df)) + float(stats.t.ppf(power, df))) * error)


def round_of(value: object) -> int:
    """A record's round (``repeat``) as an int; records made before rounds (None, NaN) count as round 0, and so
    does a value no round takes (Infinity)."""
    ok = isinstance(value, (int, float, np.integer)) and not (isinstance(value, float) and not math.isfinite(value))
    return int(value) if ok else 0  # type: ignore[arg-type]
