"""The columns a task table shows, as text: shared by the HTML and Markdown reports.

Each column turns a row of ``tables.task_table`` into display text and a
sort key; ``best`` names the ``tables.best_mask`` column that marks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rnnbench.conformance import REFERENCE_BACKEND
from rnnbench.report.model import TaskInfo, is_missing
from rnnbench.results.equivalence import EQUIVALENCE_TOLERANCE

DASH = "-"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    text: Callable[[pd.Series], str]
    sort: Callable[[pd.Series], Any]  # a number, or text; None sorts last
    best: str | None = None  # the best_mask column marking this one
    numeric: bool = False  # right-aligned


def number(value: Any, fmt: str) -> str:
    return DASH if is_missing(value) else format(value, fmt)


def seconds(value: Any) -> str:
    """Milliseconds below a second, so compile times of 3 ms and 30 s both read well."""
    if is_missing(value):
        return DASH
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:,.3g} s"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def throughput(row: pd.Series, kind: str) -> str:
    """Median samples/s with the 95% interval, flagged when the spread is large."""
    if is_missing(row[f"{kind}_sps"]):
        return DASH
    flag = " (unstable)" if row[f"{kind}_unstable"] else ""
    low, high = row[f"{kind}_sps_low"], row[f"{kind}_sps_high"]
    interval = "" if is_missing(low) or is_missing(high) else f" [{_rate(low)}, {_rate(high)}]"  # saved without samples
    return f"{_rate(row[f'{kind}_sps'])}{interval}{flag}"


def shape(row: pd.Series) -> str:
    """B (batch), T (sequence length), H (hidden size), L (layers) of the network that ran."""
    parts = [f"{letter}{int(row[k])}" for letter, k in (("B", "batch_size"), ("T", "seq_len"),
                                                        ("H", "hidden_size"), ("L", "num_layers"))
             if not is_missing(row[k])]
    return " ".join(parts) or DASH


def time_to_target(row: pd.Series) -> str:
    """Training seconds to the target; over several runs (seeds, rounds) the median, the range and how many."""
    if not row["trained"]:
        return DASH
    runs = int(row["accuracy_runs"])
    if not is_missing(row["time_to_target_s"]):
        if runs < 2:
            return seconds(row["time_to_target_s"])
        spread = f"[{seconds(row['time_to_target_low_s'])}, {seconds(row['time_to_target_high_s'])}]"
        return (f"{seconds(row['time_to_target_s'])} {spread}, {int(row['target_reached'])} of {runs} runs "
                f"({int(row['seeds'])} seeds) reached it")
    if not row["target"]:
        return "no target"
    if not row["judged"]:  # smoke and quick evaluate a part of the set: the target is not defined there
        return "not judged (evaluated on part of the set)"
    return f"not reached ({row['target']})"


def equivalence(row: pd.Series) -> str:
    """The largest relative loss gap to the NumPy reference at the same steps, flagged beyond tolerance."""
    gap = row["equivalence_gap"]
    if is_missing(gap):
        return "reference" if row["backend"] == REFERENCE_BACKEND and row["trained"] else DASH
    return f"{gap:.1e}" + ("" if gap <= EQUIVALENCE_TOLERANCE else " (trains differently)")


def _value(key: str) -> Callable[[pd.Series], Any]:
    return lambda row: None if is_missing(row[key]) else row[key]


def _text(key: str) -> Callable[[pd.Series], str]:
    return lambda row: DASH if is_missing(row[key]) else str(row[key])


def _kind_columns(kind: str, name: str) -> list[Column]:
    """Throughput and the ratio to the fastest, for training or inference."""
    def ratio(row: pd.Series) -> str:
        value = row[f"{kind}_ratio"]
        return DASH if is_missing(value) else f"{value:.2f}x"

    return [Column(f"{kind}_sps", f"{name} samples/s [95% CI]", lambda row: throughput(row, kind),
                   _value(f"{kind}_sps"), best=f"{kind}_sps", numeric=True),
            Column(f"{kind}_ratio", f"{name} vs fastest", ratio, _value(f"{kind}_ratio"), numeric=True)]


def _first_step(kind: str, name: str) -> Column:
    key = f"{kind}_first_step_s"
    return Column(key, f"first {name} step", lambda row: seconds(row[key]), _value(key), best=key, numeric=True)


def _megabytes(key: str, label: str) -> Column:
    return Column(key, label, lambda row: number(row[key], ",.1f"), _value(key), best=key, numeric=True)


def columns(table: pd.DataFrame, task: TaskInfo) -> list[Column]:
    """Backend and cell first, then speed, memory, accuracy and provenance; run/machine/device when they vary.

    A measurement no row has (throughput in an accuracy-only run, device memory on the CPU) is left out
    rather than shown as a column of dashes; identity and provenance columns always show.
    """
    shown = _all_columns(table, task)
    if table.empty:
        return shown
    return [c for c in shown if c.key not in MEASUREMENTS or any(c.text(row) != DASH for _, row in table.iterrows())]


# The columns that hold measurements, each present only where some row measured it.
MEASUREMENTS = frozenset({"train_sps", "train_ratio", "infer_sps", "infer_ratio", "train_first_step_s",
                          "infer_first_step_s", "memory_peak_mb", "device_peak_mb", "metric", "time_to_target_s",
                          "train_steps", "equivalence_gap"})


def _all_columns(table: pd.DataFrame, task: TaskInfo) -> list[Column]:
    varying = [Column(k, label, _text(k), _value(k)) for k, label in (
        ("run_id", "run"), ("machine", "machine"), ("device", "device"), ("dtype", "dtype"))
        if table[k].nunique(dropna=False) > 1]
    return [
        *varying,
        Column("backend", "backend", _text("backend"), _value("backend")),
        Column("cell", "cell", _text("cell"), _value("cell")),
        Column("shape", "shape", shape, shape),
        *_kind_columns("train", "training"), *_kind_columns("infer", "inference"),
        _first_step("train", "training"), _first_step("infer", "inference"),
        _megabytes("memory_peak_mb", "peak host MB above baseline"), _megabytes("device_peak_mb", "device peak MB"),
        Column("metric", task.headline or "metric", lambda row: number(row["metric"], ".4g"), _value("metric"),
               best="metric" if task.goal else None, numeric=True),
        Column("time_to_target_s", "time to target", time_to_target, _value("time_to_target_s"),
               best="time_to_target_s", numeric=True),
        Column("train_steps", "steps trained", lambda row: number(row["train_steps"], ",.0f"),
               _value("train_steps"), numeric=True),
        Column("equivalence_gap", f"loss gap vs {REFERENCE_BACKEND} (tolerance {EQUIVALENCE_TOLERANCE:g})",
               equivalence, _value("equivalence_gap"), numeric=True),
        Column("kernel_path", "kernel path", _text("kernel_path"), _value("kernel_path")),
        Column("conformance", "conformance", _text("conformance"), _value("conformance")),
        Column("status", "status", _text("status"), _value("status")),
    ]
