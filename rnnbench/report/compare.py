"""``rnnbench compare BASE NEW``: per case, did the step time or the latency change, and is the change real?

For every throughput case in both runs and each of training and inference,
and every latency case and each of its whole-sequence p99 and streaming
p50 (what the deployment section ranks): the ratio NEW/BASE (above 1: NEW
is slower) over the worker processes that measured it, one value per
process (its median step, or its quantile over its calls), with a 95%
interval and a two-sided test (``rnnbench.report.significance``: Welch's
t-test on log medians; paired by round within one run). A change counts
only when it is significant; anything else is "not significant", never
"1.02x faster". With one process on a side there is no test ("one process:
not tested"), and under ``MIN_PROCESSES`` "too few processes", which
``--fail-on-regression`` never counts as a slowdown.

Two runs also differ as wholes (the machine's speed drifts over minutes),
which no process of either run sees: the test adds that run-level variance,
``run_spread``, measured by the newest ``rnnbench noise`` of the machine
and mode beside the NEW run (a latency case takes the latency A/A's, else
the throughput one's), else ``DEFAULT_RUN_SPREAD`` (measured on the
development VM, docs/measurement.md), else as given (``--run-spread``).

Before any outcome the two sides must have measured the same work on the
same machine (the workload fingerprint, which a field added at its default
does not change: ``rnnbench.results.schema``). Where they did not the case is
"not comparable", with the reason, and never a speed-up or a slowdown. A
difference in how it was measured (the timing protocol, framework versions,
the threads) is what comparing commits is for: the case is compared, and the
difference is named beside the outcome.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.errors import RnnbenchError
from rnnbench.report.model import PathsArg
from rnnbench.report.noise import KINDS as MEASURED
from rnnbench.report.noise import find_noise
from rnnbench.report.significance import (
    ALPHA,
    MIN_PROCESSES,
    ONE_PROCESS,
    TOO_FEW,
    ProcessTest,
    process_test,
    round_of,
)
from rnnbench.results.frame import load_results
from rnnbench.results.store import run_dirs

__all__ = ["ALPHA", "KINDS", "MIN_PROCESSES", "NOT_COMPARABLE", "ONE_PROCESS", "TOO_FEW", "CompareResult",
           "Comparison", "RegressionError", "compare_frames", "compare_runs", "process_medians"]

# Per timed mode, each kind compared and its per-process column: the ones the A/A run tests (rnnbench noise).
KINDS = tuple(kind for kinds in MEASURED.values() for kind in kinds)
TIMINGS = ("train", "infer")  # the throughput kinds, whose records name their timing protocol
NOT_COMPARABLE = "not comparable"
# What must be equal on both sides for an outcome at all, and what is named when it differs.
REQUIRED = ("machine", "workload")
NAMED = ("protocol", "versions", "threads")
# The standard deviation of a whole run's log level on the development VM (docs/measurement.md: three A/A
# pairs of the default matrix, back to back); a machine's own `rnnbench noise` replaces it.
DEFAULT_RUN_SPREAD = 0.014
DEFAULT_SPREAD = (DEFAULT_RUN_SPREAD, "the development VM's (docs/measurement.md); `rnnbench noise` measures "
                                      "this machine's")


class RegressionError(RnnbenchError):
    """A significant slowdown beyond the allowed percentage (``--fail-on-regression``)."""


@dataclass(frozen=True, kw_only=True)
class Comparison:
    case_id: str  # the case id without its round (-rN): the rounds of a case are its processes
    kind: str  # "train" or "infer" (throughput), "whole p99" or "stream p50" (latency)
    base_median_s: float  # median over the processes of their median step times
    new_median_s: float
    ratio: float  # new / base step time (ratio of geometric means over processes): above 1 is slower
    ci_low: float | None  # 95% interval of the ratio; None without a test
    ci_high: float | None
    p_value: float | None  # two-sided; None without a test
    n_base: int  # processes on each side
    n_new: int
    outcome: str  # "faster", "slower", "not significant", ONE_PROCESS, TOO_FEW or NOT_COMPARABLE
    basis: str = "processes"  # "processes" (unpaired) or "paired rounds"
    reason: str | None = None  # why the sides are not comparable (REQUIRED)
    differences: str | None = None  # how the measurement differed, where it did (NAMED): compared all the same

    @property
    def change_percent(self) -> float:
        return (self.ratio - 1.0) * 100.0


@dataclass(frozen=True)
class CompareResult:
    comparisons: tuple[Comparison, ...]
    only_base: tuple[str, ...]  # case ids measured in BASE only
    only_new: tuple[str, ...]
    not_ok: tuple[str, ...]  # in both, but without samples in one of them (failed, or no such timing)
    # Per timed mode compared, the run-level standard deviation the tests between two runs added, and where it
    # came from: an `rnnbench noise` run, the default, or given.
    spreads: dict[str, tuple[float, str]] = field(default_factory=dict)

    def regressions(self, percent: float) -> list[Comparison]:
        """Significant slowdowns of more than ``percent`` percent (an untested case is never one)."""
        return [c for c in self.comparisons if c.outcome == "slower" and c.change_percent > percent]

    def to_dict(self) -> dict[str, Any]:
        return {"comparisons": [asdict(c) | {"change_percent": c.change_percent} for c in self.comparisons],
                "only_base": list(self.only_base), "only_new": list(self.only_new), "not_ok": list(self.not_ok),
                "run_spreads": {mode: {"run_spread": spread, "source": source}
                                for mode, (spread, source) in self.spreads.items()}}


Medians = dict[tuple[str, str], dict[tuple[str, int], float]]  # (case key, kind) -> {(run, round): median s}


def checked_metadata(row: pd.Series) -> dict[str, str]:
    """The fields of REQUIRED and NAMED of one record, as comparable strings."""
    record = row.record if isinstance(row.get("record"), dict) else {}
    latency = record.get("latency") or {}
    protocols = sorted({str(row.get(f"{kind}_protocol")) for kind in TIMINGS if row.get(f"{kind}_protocol")}
                       | {str(part["protocol"]) for part in latency.values() if isinstance(part, dict)
                          and part.get("protocol")})
    return {"machine": str(row.get("machine")), "workload": str(row.get("workload")),
            "protocol": ", ".join(protocols), "versions": json.dumps(record.get("versions"), sort_keys=True),
            "threads": str((record.get("config") or {}).get("threads"))}


def process_medians(frame: pd.DataFrame) -> tuple[Medians, dict[str, dict[str, set[str]]]]:
    """Per (case key, kind): each ok timed record's value by (run, round), one per process (a throughput
    process's median step, a latency process's p99 or streaming p50); and per case key the values of every
    checked field among its records."""
    rows = frame[frame["mode"].isin(list(MEASURED)) & (frame.status == "ok")] if not frame.empty else frame
    found: Medians = {}
    metadata: dict[str, dict[str, set[str]]] = {}
    for _, row in rows.iterrows():
        for name, value in checked_metadata(row).items():
            metadata.setdefault(row.case_key, {}).setdefault(name, set()).add(value)
        for kind, column in MEASURED[row["mode"]].items():
            median = row[column]  # NaN for a process that timed a busy machine, or a step it has not
            if isinstance(median, (int, float)) and np.isfinite(median) and median > 0:
                found.setdefault((row.case_key, kind), {})[(str(row.run_id), round_of(row["repeat"]))] = float(median)
    return found, metadata


def _differing(base: dict[str, set[str]], new: dict[str, set[str]], fields: tuple[str, ...]) -> str | None:
    """The fields whose values differ between the sides, with both values; None when all agree."""
    parts = [f"{name} differs: {_values(base.get(name))} vs {_values(new.get(name))}"
             for name in fields if base.get(name) != new.get(name)]
    return "; ".join(parts) or None


def _values(values: set[str] | None) -> str:
    return " | ".join(sorted(values or {"?"}))


def _timed_cases(frame: pd.DataFrame) -> dict[str, str]:
    """Each timed case's key and its mode."""
    if frame.empty:
        return {}
    rows = frame[frame["mode"].isin(list(MEASURED))]
    return dict(zip(rows.case_key, rows["mode"], strict=True))


def compare_frames(base: pd.DataFrame, new: pd.DataFrame, run_spread: float = DEFAULT_RUN_SPREAD,
                   run_spread_source: str = "given", spreads: dict[str, tuple[float, str]] | None = None
                   ) -> CompareResult:
    """``base`` against ``new``; a timed mode's cases take their run spread from ``spreads`` where it names the
    mode, else ``run_spread``."""
    (base_medians, base_meta), (new_medians, new_meta) = process_medians(base), process_medians(new)
    base_cases, new_cases = _timed_cases(base), _timed_cases(new)
    shared = sorted(base_medians.keys() & new_medians.keys())
    compared = {case for case, _ in shared}
    used = {mode: (spreads or {}).get(mode, (run_spread, run_spread_source)) for mode in
            sorted({new_cases[case] for case in compared})}
    comparisons = tuple(_compare_case(case, kind, base_medians[(case, kind)], new_medians[(case, kind)],
                                      base_meta[case], new_meta[case], used[new_cases[case]][0])
                        for case, kind in shared)
    return CompareResult(comparisons, tuple(sorted(base_cases.keys() - new_cases.keys())),
                         tuple(sorted(new_cases.keys() - base_cases.keys())),
                         tuple(sorted((base_cases.keys() & new_cases.keys()) - compared)), used)


def _compare_case(case: str, kind: str, base: dict[tuple[str, int], float], new: dict[tuple[str, int], float],
                  base_meta: dict[str, set[str]], new_meta: dict[str, set[str]], run_spread: float) -> Comparison:
    base_median, new_median = float(np.median(list(base.values()))), float(np.median(list(new.values())))
    common = dict(case_id=case, kind=kind, base_median_s=base_median, new_median_s=new_median,
                  n_base=len(base), n_new=len(new))
    if reason := _differing(base_meta, new_meta, REQUIRED):
        return Comparison(**common, ratio=new_median / base_median, ci_low=None, ci_high=None, p_value=None,
                          outcome=NOT_COMPARABLE, reason=reason)  # type: ignore[arg-type]
    # The same rounds of the same run on both sides (a run compared with itself) pair; two runs never do, and
    # differ by their runs' levels too.
    same_run = set(base) == set(new)
    test = process_test(base, new, paired=same_run, run_spread=0.0 if same_run else run_spread)
    return _comparison(common, test, _differing(base_meta, new_meta, NAMED))


def _comparison(common: dict[str, Any], test: ProcessTest, differences: str | None) -> Comparison:
    return Comparison(**common | {"n_base": test.n_base, "n_new": test.n_new}, ratio=test.ratio, ci_low=test.low,
                      ci_high=test.high, p_value=test.p_value, outcome=test.outcome, basis=test.basis,
                      differences=differences)


def compare_runs(base: PathsArg, new: PathsArg, run_spread: float | None = None) -> CompareResult:
    """Compare the run folders ``base`` and ``new`` (each a run folder, or a folder of runs pooled together).

    ``run_spread`` None: per timed mode, the NEW machine's newest ``rnnbench noise`` of that mode beside NEW,
    else of throughput, else DEFAULT_RUN_SPREAD; given, it applies to every mode.
    """
    new_frame = load_results(new)
    if run_spread is not None:
        return compare_frames(load_results(base), new_frame, run_spread, "given")
    throughput = measured_run_spread(new, new_frame)
    latency = measured_run_spread(new, new_frame, "latency")
    spreads = {"throughput": throughput or DEFAULT_SPREAD, "latency": latency or throughput or DEFAULT_SPREAD}
    return compare_frames(load_results(base), new_frame, spreads=spreads)


def measured_run_spread(paths: PathsArg, frame: pd.DataFrame, mode: str = "throughput") -> tuple[float, str] | None:
    """The run spread of the machine of ``frame`` from its newest A/A run of ``mode`` beside ``paths``; None
    where there is none."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    machines = sorted({str(m) for m in frame.machine.dropna()}) if not frame.empty else []
    keys = set(frame.loc[frame["mode"] == mode, "case_key"]) if not frame.empty else set()
    for run_dir in run_dirs(paths):
        for machine in machines:
            noise = find_noise(run_dir, machine, mode, keys)
            if noise is not None and isinstance(noise.get("run_spread"), (int, float)):
                return float(noise["run_spread"]), f"rnnbench noise {noise.get('run_id')} ({mode})"
    return None
