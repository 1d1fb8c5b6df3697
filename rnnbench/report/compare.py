"""``rnnbench compare BASE NEW``: per case, did the step time change, and is the change real?

For every throughput case in both runs and each of training and inference:
the ratio of median step times NEW/BASE (above 1: NEW is slower), a
bootstrap 95% interval of that ratio, and a Mann-Whitney U test. A change
counts only when p < 0.05 *and* the interval excludes 1; anything else is
"not significant", never "1.02x faster".

What is tested: calls of one worker process share its state (caches, clock
speed, memory layout), so they are not independent samples of the case.
When both sides have at least two repeats of a case (rounds of a run, or
several runs pooled), each repeat counts as one value, its median step time
(as pyperf does with its processes); otherwise every call is pooled. Each
side needs ``MIN_SAMPLES`` values for a verdict, else it is "too few
samples", which ``--fail-on-regression`` never counts as a slowdown.

Before any verdict the two sides must have measured the same thing the same
way (pyperf's checked metadata): the same machine, framework versions,
threads and workload fingerprint. Where one differs the case is "not
comparable", with the reason, and never a speed-up or a slowdown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.errors import RnnbenchError
from rnnbench.report.model import PathsArg
from rnnbench.report.significance import mann_whitney_u, ratio_interval
from rnnbench.results.frame import load_results

ALPHA = 0.05
MIN_SAMPLES = 5  # values per side (repeats or calls) below which no test or interval means anything
KINDS = ("train", "infer")
TOO_FEW = "too few samples"
NOT_COMPARABLE = "not comparable"
# What must be equal on both sides for a verdict, and how to read it from a frame row.
CHECKED = ("machine", "versions", "threads", "workload")


class RegressionError(RnnbenchError):
    """A significant slowdown beyond the allowed percentage (``--fail-on-regression``)."""


@dataclass(frozen=True, kw_only=True)
class Comparison:
    case_id: str  # the case id without its round (-rN): the rounds of a case are its repeats
    kind: str  # "train" or "infer"
    base_median_s: float  # median of the tested values (per-repeat medians, or calls)
    new_median_s: float
    ratio: float  # new / base median step time: above 1 is slower
    ci_low: float | None  # bootstrap interval of the ratio; None with too few samples
    ci_high: float | None
    p_value: float | None  # Mann-Whitney U, two-sided; None with too few samples
    n_base: int  # values tested on each side: repeats or calls (see basis)
    n_new: int
    verdict: str  # "faster", "slower", "not significant", "too few samples" or "not comparable"
    basis: str = "calls"  # "repeats": one median per repeat; "calls": every call pooled
    reason: str | None = None  # why the sides are not comparable (see CHECKED)

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
        """Significant slowdowns of more than ``percent`` percent ("too few samples" is never one)."""
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


def checked_metadata(row: pd.Series) -> dict[str, str]:
    """The fields of CHECKED of one record, as comparable strings."""
    record = row.record if isinstance(row.get("record"), dict) else {}
    return {"machine": str(row.get("machine")), "versions": json.dumps(record.get("versions"), sort_keys=True),
            "threads": str((record.get("config") or {}).get("threads")), "workload": str(row.get("workload"))}


def _repeats(frame: pd.DataFrame) -> tuple[dict[tuple[str, str], list[np.ndarray]], dict[str, dict[str, set[str]]]]:
    """Per (case key, kind): the samples of each ok throughput record, one array per repeat; and per
    case key the values of every checked field among its records."""
    rows = frame[(frame["mode"] == "throughput") & (frame.status == "ok")] if not frame.empty else frame
    found: dict[tuple[str, str], list[np.ndarray]] = {}
    metadata: dict[str, dict[str, set[str]]] = {}
    for _, row in rows.iterrows():
        for field, value in checked_metadata(row).items():
            metadata.setdefault(row.case_key, {}).setdefault(field, set()).add(value)
        for kind in KINDS:
            samples = row[f"{kind}_samples_s"]
            if isinstance(samples, list) and samples:
                found.setdefault((row.case_key, kind), []).append(np.asarray(samples, dtype=np.float64))
    return found, metadata


def mismatch(base: dict[str, set[str]], new: dict[str, set[str]]) -> str | None:
    """Why two sides of a case measured different things, or None when every checked field agrees."""
    for field in CHECKED:
        if base.get(field) != new.get(field):
            return f"{field} differs: {_values(base.get(field))} vs {_values(new.get(field))}"
    return None


def _values(values: set[str] | None) -> str:
    return " | ".join(sorted(values or {"?"}))


def compare_repeats(case_id: str, kind: str, base: Sequence[np.ndarray], new: Sequence[np.ndarray],
                    seed: int = 0) -> Comparison:
    """Per-repeat medians when both sides have two repeats or more, else every call of each side pooled."""
    if len(base) >= 2 and len(new) >= 2:
        medians = [np.array([np.median(r) for r in side]) for side in (base, new)]
        return compare_samples(case_id, kind, medians[0], medians[1], seed, basis="repeats")
    return compare_samples(case_id, kind, np.concatenate(base), np.concatenate(new), seed)


def compare_samples(case_id: str, kind: str, base: np.ndarray, new: np.ndarray, seed: int = 0,
                    basis: str = "calls") -> Comparison:
    base_median, new_median = float(np.median(base)), float(np.median(new))
    ratio = new_median / base_median
    if min(base.size, new.size) < MIN_SAMPLES:
        return Comparison(case_id=case_id, kind=kind, base_median_s=base_median, new_median_s=new_median,
                          ratio=ratio, ci_low=None, ci_high=None, p_value=None, n_base=int(base.size),
                          n_new=int(new.size), verdict=TOO_FEW, basis=basis)
    low, high = ratio_interval(base, new, seed=seed)
    p_value = mann_whitney_u(new, base).p_value
    return Comparison(case_id=case_id, kind=kind, base_median_s=base_median, new_median_s=new_median, ratio=ratio,
                      ci_low=low, ci_high=high, p_value=p_value, n_base=int(base.size), n_new=int(new.size),
                      verdict=verdict(p_value, low, high), basis=basis)


def _throughput_cases(frame: pd.DataFrame) -> set[str]:
    return set(frame.loc[frame["mode"] == "throughput", "case_key"]) if not frame.empty else set()


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, seed: int = 0) -> CompareResult:
    (base_samples, base_meta), (new_samples, new_meta) = _repeats(base), _repeats(new)
    base_cases, new_cases = _throughput_cases(base), _throughput_cases(new)
    shared = sorted(base_samples.keys() & new_samples.keys())
    compared = {case for case, _ in shared}
    comparisons = tuple(_compare_case(case, kind, base_samples[(case, kind)], new_samples[(case, kind)], seed,
                                      mismatch(base_meta[case], new_meta[case]))
                        for case, kind in shared)
    return CompareResult(comparisons, tuple(sorted(base_cases - new_cases)), tuple(sorted(new_cases - base_cases)),
                         tuple(sorted((base_cases & new_cases) - compared)))


def _compare_case(case: str, kind: str, base: list[np.ndarray], new: list[np.ndarray], seed: int,
                  reason: str | None) -> Comparison:
    if reason is None:
        return compare_repeats(case, kind, base, new, seed)
    base_median, new_median = float(np.median(np.concatenate(base))), float(np.median(np.concatenate(new)))
    return Comparison(case_id=case, kind=kind, base_median_s=base_median, new_median_s=new_median,
                      ratio=new_median / base_median, ci_low=None, ci_high=None, p_value=None, n_base=len(base),
                      n_new=len(new), verdict=NOT_COMPARABLE, basis="repeats", reason=reason)


def compare_runs(base: PathsArg, new: PathsArg, seed: int = 0) -> CompareResult:
    """Compare the run folders ``base`` and ``new`` (each a run folder, or a folder of runs pooled together)."""
    return compare_frames(load_results(base), load_results(new), seed)
