"""``rnnbench compare BASE NEW``: per case, did the step time change, and is the change real?

For every throughput case in both runs and each of training and inference:
the ratio of median step times NEW/BASE (above 1: NEW is slower), a
bootstrap 95% interval of that ratio, and a Mann-Whitney U test on the
per-call samples. A change counts only when p < 0.05 *and* the interval
excludes 1; anything else is "not significant", never "1.02x faster".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.errors import RnnbenchError
from rnnbench.frame import load_results
from rnnbench.report.model import PathsArg
from rnnbench.report.significance import mann_whitney_u, ratio_interval

ALPHA = 0.05
KINDS = ("train", "infer")


class RegressionError(RnnbenchError):
    """A significant slowdown beyond the allowed percentage (``--fail-on-regression``)."""


@dataclass(frozen=True)
class Comparison:
    case_id: str
    kind: str  # "train" or "infer"
    base_median_s: float
    new_median_s: float
    ratio: float  # new / base median step time: above 1 is slower
    ci_low: float  # bootstrap interval of the ratio
    ci_high: float
    p_value: float  # Mann-Whitney U, two-sided
    n_base: int
    n_new: int
    verdict: str  # "faster", "slower" or "not significant"

    @property
    def change_percent(self) -> float:
        return (self.ratio - 1.0) * 100.0


@dataclass(frozen=True)
class CompareResult:
    comparisons: tuple[Comparison, ...]
    only_base: tuple[str, ...]  # case ids measured in BASE only
    only_new: tuple[str, ...]
    not_ok: tuple[str, ...]  # in both, but without samples in one of them (failed, or no such timing)

    def regressions(self, percent: float) -> list[Comparison]:
        """Significant slowdowns of more than ``percent`` percent."""
        return [c for c in self.comparisons if c.verdict == "slower" and c.change_percent > percent]

    def to_dict(self) -> dict[str, Any]:
        return {"comparisons": [asdict(c) | {"change_percent": c.change_percent} for c in self.comparisons],
                "only_base": list(self.only_base), "only_new": list(self.only_new), "not_ok": list(self.not_ok)}


def verdict(p_value: float, low: float, high: float) -> str:
    if p_value < ALPHA and low > 1.0:
        return "slower"
    if p_value < ALPHA and high < 1.0:
        return "faster"
    return "not significant"


def _samples(frame: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """Per (case id, kind): every per-call sample of the ok throughput records (rounds of runs pooled)."""
    rows = frame[(frame["mode"] == "throughput") & (frame.status == "ok")] if not frame.empty else frame
    found: dict[tuple[str, str], list[float]] = {}
    for _, row in rows.iterrows():
        for kind in KINDS:
            samples = row[f"{kind}_samples_s"]
            if isinstance(samples, list) and samples:
                found.setdefault((row.case_id, kind), []).extend(samples)
    return {key: np.asarray(values, dtype=np.float64) for key, values in found.items()}


def compare_samples(case_id: str, kind: str, base: np.ndarray, new: np.ndarray, seed: int = 0) -> Comparison:
    ratio = float(np.median(new) / np.median(base))
    low, high = ratio_interval(base, new, seed=seed)
    p_value = mann_whitney_u(new, base).p_value
    return Comparison(case_id, kind, float(np.median(base)), float(np.median(new)), ratio, low, high, p_value,
                      int(base.size), int(new.size), verdict(p_value, low, high))


def _throughput_cases(frame: pd.DataFrame) -> set[str]:
    return set(frame.loc[frame["mode"] == "throughput", "case_id"]) if not frame.empty else set()


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, seed: int = 0) -> CompareResult:
    base_samples, new_samples = _samples(base), _samples(new)
    base_cases, new_cases = _throughput_cases(base), _throughput_cases(new)
    shared = sorted(base_samples.keys() & new_samples.keys())
    compared = {case for case, _ in shared}
    comparisons = tuple(compare_samples(case, kind, base_samples[(case, kind)], new_samples[(case, kind)], seed)
                        for case, kind in shared)
    return CompareResult(comparisons, tuple(sorted(base_cases - new_cases)), tuple(sorted(new_cases - base_cases)),
                         tuple(sorted((base_cases & new_cases) - compared)))


def compare_runs(base: PathsArg, new: PathsArg, seed: int = 0) -> CompareResult:
    """Compare the run folders ``base`` and ``new`` (each a run folder, or a folder of runs pooled together)."""
    return compare_frames(load_results(base), load_results(new), seed)
