"""What the run protocol can and cannot tell apart on this machine: an A/A run's summary, saved and found again.

``rnnbench noise`` runs a few throughput (or, with ``--mode latency``, latency)
cases in twice the rounds of the protocol, one after another as two runs would be, and ``summarize_noise``
compares the first half of the rounds with the second, case by case, with
the test ``rnnbench compare`` uses between two runs (before the run-level
variance, which it measures: ``run_spread``, from how far the halves' ratios
spread beyond their processes' own errors). Every case is the same
on both sides, so each "significant" is a false positive: their share is the
protocol's false-positive rate on this machine (about 5% when the test is
honest). From the spread of the processes it also gives, per case, the
smallest difference the protocol resolves with 80% power
(``minimum_detectable_ratio``); the verdict of a later run on the same
machine quotes the median of those.

The summary is ``noise.json`` in the A/A run's folder, beside its
environment; ``find_noise`` finds the newest one for a machine among the
folders beside a run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.report.significance import (
    ALPHA,
    estimate_run_spread,
    minimum_detectable_ratio,
    process_test,
    round_of,
)

NOISE_FILE = "noise.json"
POWER = 0.8
# Per timed mode, what an A/A run compares: each kind's per-process value, the one its tests take.
KINDS = {"throughput": {"train": "train_process_s", "infer": "infer_process_s"},
         "latency": {"whole p99": "whole_p99_s", "stream p50": "stream_p50_s"}}


def summarize_noise(frame: pd.DataFrame, rounds_a_side: int, mode: str = "throughput") -> dict[str, Any]:
    """The A/A summary of a run of ``2 * rounds_a_side`` rounds of ``mode``: rounds below ``rounds_a_side``
    against the rest."""
    rows = frame[(frame["mode"] == mode) & (frame.status == "ok")]
    cases = []
    for key, case in rows.groupby("case_key", sort=True):
        for kind, column in KINDS[mode].items():
            values = {round_of(r["repeat"]): float(r[column]) for _, r in case.iterrows()
                      if isinstance(r[column], (int, float)) and r[column] > 0}
            first = {k: v for k, v in values.items() if k < rounds_a_side}
            second = {k: v for k, v in values.items() if k >= rounds_a_side}
            if first and second:
                cases.append(_case_noise(str(key), kind, first, second, rounds_a_side))
    tested = [c for c in cases if c["p_value"] is not None]
    false = sum(c["significant"] for c in tested)
    spread = estimate_run_spread([math.log(c["ratio"]) for c in tested], [c["error"] for c in tested])
    ratios = [c["minimum_detectable_ratio"] for c in cases if math.isfinite(c["minimum_detectable_ratio"])]
    return {"machine": _one(rows, "machine"), "run_id": _one(rows, "run_id"), "mode": mode,
            "rounds_a_side": rounds_a_side,
            "alpha": ALPHA, "power": POWER, "tests": len(tested), "significant": false,
            "false_positive_rate": false / len(tested) if tested else None, "run_spread": spread,
            "median_minimum_detectable_ratio": float(np.median(ratios)) if ratios else None, "cases": cases}


def _case_noise(key: str, kind: str, first: dict[int, float], second: dict[int, float], n: int) -> dict[str, Any]:
    test = process_test(first, second)
    logs = [np.log(list(side.values())) for side in (first, second)]
    spread = [float(np.std(side, ddof=1)) for side in logs if side.size > 1]
    log_sd = float(np.sqrt(np.mean(np.square(spread)))) if spread else math.nan  # pooled within the halves
    return {"case_key": key, "kind": kind, "processes": [len(first), len(second)], "ratio": test.ratio,
            "error": test.error,
            "ci": [test.low, test.high], "p_value": test.p_value, "significant": test.outcome in ("faster", "slower"),
            "between_process_cv": math.sqrt(math.exp(log_sd**2) - 1) if math.isfinite(log_sd) else None,
            "minimum_detectable_ratio": minimum_detectable_ratio(log_sd, n, POWER) if math.isfinite(log_sd)
            else math.inf}


def _one(rows: pd.DataFrame, column: str) -> str | None:
    values = sorted({str(v) for v in rows[column].dropna()}) if not rows.empty else []
    return ", ".join(values) or None


def noise_line(noise: dict[str, Any]) -> str:
    """One sentence for the verdict: what this machine's protocol resolves, and its A/A false-positive count."""
    ratio = noise.get("median_minimum_detectable_ratio")
    resolved = (f"differences under {100 * (ratio - 1):.0f}% are not resolved ({noise['rounds_a_side']} processes "
                f"a side, {100 * noise['power']:.0f}% power)" if isinstance(ratio, (int, float)) else
                "no difference could be sized")
    what = "latency " if noise.get("mode") == "latency" else ""
    return (f"On this machine {resolved}; its {what}A/A run ({noise.get('run_id')}) called {noise['significant']} of "
            f"{noise['tests']} identical comparisons significant at p < {noise['alpha']:g} (rnnbench noise).")


def find_noise(run_dir: Path, machine: str, mode: str = "throughput", cases: Collection[str] = ()
               ) -> dict[str, Any] | None:
    """The A/A summary of ``machine`` and ``mode`` in ``run_dir`` or the folders beside it that measured most of
    ``cases`` (case keys: what it resolves is a property of the cases too), the newest among those; None when
    there is none (an A/A run made before modes were named is a throughput one)."""
    candidates = [run_dir / NOISE_FILE, *sorted(run_dir.parent.glob(f"*/{NOISE_FILE}"))]
    found = []
    for path in dict.fromkeys(candidates):
        try:
            noise = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # none there, or not one of ours: the verdict goes without it
        if (isinstance(noise, dict) and noise.get("machine") == machine and isinstance(noise.get("tests"), int)
                and noise.get("mode", "throughput") == mode):
            shared = len(set(cases) & {str(c.get("case_key")) for c in noise.get("cases") or [] if isinstance(c, dict)})
            found.append(((shared, path.stat().st_mtime), noise))
    return max(found, key=lambda pair: pair[0])[1] if found else None
