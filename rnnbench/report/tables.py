"""Per-task tables: one row per backend and cell (and configuration), numbers only.

Rows gather a case's three modes (throughput, memory, accuracy) and its
rounds. Throughput is samples/s at the median step time (the batch over
the median seconds per call), and its 95% interval is the step-time
interval inverted (batch / high, batch / low). Several rounds of one case
are summarised with each round's median as one value, as pyperf and
``rnnbench compare`` do: calls of one process are not independent, and
pooling them would make the interval too narrow.
A row's *group* is the rows that differ only by backend: ratios to the
fastest and the best values are taken within it, because comparing an LSTM
with a GRU says nothing about frameworks.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.report.model import TaskInfo, is_missing, seeds, seeds_text
from rnnbench.results.stats import summarize

# The record's config fields that make two cases of one backend and cell different measurements.
# Not the seed: several seeds of a case are repeats of it, summarised as rounds are (median, range, count).
VARIANT_FIELDS = ("device", "dtype", "profile", "synthetic", "threads", "flush_denormals",
                  "batch_size", "seq_len", "hidden_size", "num_layers", "task_options")
GROUP = ["run_id", "machine", "variant", "cell"]
KEY = [*GROUP, "backend"]
SHAPE = ("device", "dtype", "batch_size", "seq_len", "hidden_size", "num_layers")
MB = 2.0**20
# Values this close to the best are the best too: backends computing the same function reach the same
# metric up to float rounding (1e-7 relative in float32), and bolding one of them would mislead.
TIE = 1e-6
# Column -> which way is better, for marking the best value of each group.
BETTER = {"train_sps": "max", "infer_sps": "max", "train_first_step_s": "min", "infer_first_step_s": "min",
          "memory_peak_mb": "min", "device_peak_mb": "min", "time_to_target_s": "min"}


TUNED_KNOBS = ("threads", "flush_denormals")  # what `rnnbench tune` searches: a tuned record's, not its case's


def variant(record: dict[str, Any]) -> str:
    """The case's configuration apart from backend, cell and mode, as a stable string key.

    The knobs of a ``rnnbench tune`` record are its contender's settings, so its
    default and tuned records share a variant and stand side by side.
    """
    config = record.get("config") or {}
    fields = [k for k in VARIANT_FIELDS if not (record.get("tuning") and k in TUNED_KNOBS)]
    return json.dumps({k: config.get(k) for k in fields}, sort_keys=True, default=str)


def task_table(frame: pd.DataFrame, task: TaskInfo) -> pd.DataFrame:
    """The task's rows, ordered by group then backend, with ratios to the fastest of each group."""
    rows = frame[(frame.task == task.name) & (frame["mode"] != "latency")]  # latency: the deployment section
    rows = rows.assign(variant=rows.record.map(variant))
    table = pd.DataFrame([_row(group, task) for _, group in rows.groupby(KEY, sort=True, dropna=False)])
    for kind in ("train", "infer"):
        fastest = table.groupby(GROUP, dropna=False)[f"{kind}_sps"].transform("max")
        table[f"{kind}_ratio"] = table[f"{kind}_sps"] / fastest
    for column in ("batch_size", "seq_len", "hidden_size", "num_layers"):  # integers, even beside a failed case
        table[column] = pd.to_numeric(table[column]).astype("Int64")
    # Numeric shapes sort as numbers (H8 before H16); the variant string breaks the remaining ties.
    order = ["run_id", "machine", "device", "dtype", "cell", "batch_size", "seq_len", "hidden_size", "num_layers",
             "variant", "backend"]
    return table.sort_values(order, na_position="last", kind="stable").reset_index(drop=True)


def _row(group: pd.DataFrame, task: TaskInfo) -> dict[str, Any]:
    first = group.iloc[0]
    ok = group[group.status == "ok"]
    row: dict[str, Any] = {key: first[key] for key in KEY}
    row.update({key: _first(group[key]) for key in SHAPE})
    for kind in ("train", "infer"):
        row.update(_throughput(ok[ok["mode"] == "throughput"], kind))
    row.update(_memory(ok[ok["mode"] == "memory"]))
    row.update(_accuracy(ok[ok["mode"] == "accuracy"], task))
    row.update(_seeds(group))
    row["kernel_path"] = "; ".join(dict.fromkeys(str(k) for k in group.kernel_path if not is_missing(k))) or None
    row["conformance"] = _conformance(group)
    row["status"] = _status(group)
    return row


def _seeds(group: pd.DataFrame) -> dict[str, Any]:
    """How many seeds the row's records ran with, and their range (a --seed sweep is summarised in one row)."""
    found = seeds(group.record)
    return {"seed_count": len(found), "seed_min": found[0] if found else None,
            "seed_max": found[-1] if found else None, "seeds_text": seeds_text(found)}


def _first(values: pd.Series) -> Any:
    present = [v for v in values if not is_missing(v)]
    return present[0] if present else None


def _throughput(rows: pd.DataFrame, kind: str) -> dict[str, Any]:
    """samples/s at the median step and its interval; NaN when no round measured it."""
    empty = {f"{kind}_{k}": np.nan for k in ("sps", "sps_low", "sps_high", "first_step_s")}
    rows = rows[rows[f"{kind}_step_s"].notna()]
    if rows.empty:
        return empty | {f"{kind}_unstable": False, f"{kind}_process_sps": ()}
    batch = float(rows.batch_size.iloc[0])
    quiet = rows[rows[f"{kind}_process_s"].notna()]  # processes that timed a busy machine are left out...
    rows = quiet if not quiet.empty else rows  # ...unless every one did: then the flags say so
    medians = _numbers(rows[f"{kind}_step_s"]).tolist()  # each process's median, as the frame has it
    if len(medians) > 1:  # several rounds of the same case: each round's median is one value
        summary = summarize(medians)
        median, low, high, unstable = summary.median, summary.ci_low, summary.ci_high, summary.unstable
    else:  # one process: its own interval over its calls
        median, low, high = (_numbers(rows[f"{kind}_step{s}"]).median() for s in ("_s", "_ci_low_s", "_ci_high_s"))
        unstable = bool(rows[f"{kind}_unstable"].eq(True).any())
    first_step = _numbers(rows[f"{kind}_first_step_s"]).median()
    return {f"{kind}_sps": batch / median, f"{kind}_sps_low": batch / high, f"{kind}_sps_high": batch / low,
            f"{kind}_first_step_s": first_step, f"{kind}_unstable": unstable,
            f"{kind}_process_sps": tuple(batch / m for m in medians),  # each process's, for the strip chart
            f"{kind}_step_s": median, f"{kind}_step_low_s": low, f"{kind}_step_high_s": high}


def _numbers(column: pd.Series) -> pd.Series:
    """A column as floats, NaN where a record has no value."""
    return pd.to_numeric(column, errors="coerce").astype(float)


def _memory(rows: pd.DataFrame) -> dict[str, float]:
    """The highest peak over rounds: a peak is what the machine must have."""
    return {"memory_peak_mb": rows.memory_peak_bytes.max() / MB if not rows.empty else np.nan,
            "memory_baseline_mb": rows.memory_baseline_bytes.median() / MB if not rows.empty else np.nan,
            "device_peak_mb": rows.device_peak_bytes.max() / MB if not rows.empty else np.nan}


def _accuracy(rows: pd.DataFrame, task: TaskInfo) -> dict[str, Any]:
    column = f"metric_{task.headline}"
    metric = rows[column].median() if column in rows and not rows.empty else np.nan
    targets = [(r.get("accuracy") or {}).get("target") for r in rows.record]
    target = next((t for t in targets if isinstance(t, dict)), None)
    steps = _numbers(rows.train_steps).median() if "train_steps" in rows and not rows.empty else np.nan
    to_target = _numbers(rows.time_to_target_s) if not rows.empty else pd.Series(dtype=float)
    seeds = {(r.get("config") or {}).get("seed") for r in rows.record}
    gaps = _numbers(rows.equivalence_max_rel_gap) if "equivalence_max_rel_gap" in rows else pd.Series(dtype=float)
    return {"metric": metric, "time_to_target_s": rows.time_to_target_s.median() if not rows.empty else np.nan,
            "target": _describe_target(target), "trained": not rows.empty, "train_steps": steps,
            "judged": any(_whole_set(curve) for curve in rows.curve),  # the target counts on the whole set only
            "time_to_target_low_s": to_target.min(), "time_to_target_high_s": to_target.max(),
            "target_reached": int(to_target.notna().sum()), "seeds": len(seeds), "accuracy_runs": len(rows),
            "equivalence_gap": gaps.max() if gaps.notna().any() else np.nan}  # the worst round


def _whole_set(curve: Any) -> bool:
    return isinstance(curve, list) and any(isinstance(p, dict) and p.get("eval_whole") for p in curve)


def _describe_target(target: dict[str, Any] | None) -> str:
    if not target:
        return ""
    sign = "<=" if target.get("goal") == "min" else ">="
    return f"{target.get('metric')} {sign} {target.get('value', float('nan')):.4g}"


def _conformance(group: pd.DataFrame) -> str:
    """What the records say; a run does not check conformance unless a record carries the result."""
    results = [r["conformance"] for r in group.record if isinstance(r.get("conformance"), dict)]
    if not results:
        return "not checked"
    return "pass" if all(r.get("ok") is True for r in results) else "fail"


def _status(group: pd.DataFrame) -> str:
    """"ok", or each failed mode with its status and one-line reason."""
    failed = group[group.status != "ok"]
    return "; ".join(f"{r['mode']}: {r.status}" + (f": {r.error}" if not is_missing(r.error) else "")
                     for _, r in failed.iterrows()) or "ok"


def best_mask(table: pd.DataFrame, task: TaskInfo) -> pd.DataFrame:
    """True where a value is the best of its group, ties included (only where at least two rows have one)."""
    better = BETTER | ({"metric": task.goal} if task.goal else {})
    mask = pd.DataFrame(False, index=table.index, columns=list(better))
    for column, direction in better.items():
        values = table[column].astype(float)
        grouped = values.groupby([table[k] for k in GROUP], dropna=False)
        best = grouped.transform("max" if direction == "max" else "min")
        tied = (values - best).abs() <= TIE * best.abs()
        mask[column] = values.notna() & tied & (grouped.transform("count") >= 2)
    return mask
