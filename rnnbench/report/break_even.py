"""Compile or not: after how many calls an implementation that starts slower has paid for its start.

A report section, added through the report-section hook like a plugin's
(this module is a built-in plugin). For each case (machine, workload,
device), backend and call kind (training step, inference, a served request
of the latency mode), where two or more of the backend's implementations
(or tuned settings) were measured, each is set against the backend's
default (else the quickest to start):

- its first call (compilation, tracing, warm-up: the median over its
  processes of each process's first call) and its steady call (the median
  over its processes of each process's median);
- the break-even: the number of calls N from which the total time
  ``first + (N - 1) * steady`` of the one that starts slower is below the
  other's. Only where the steady calls differ at p < 0.05 over processes
  (the test of ``rnnbench compare``); otherwise it says why there is none
  (the test's outcome, e.g. too few processes, or "never").

This answers "does torch.compile (or XLA, or jax's unroll) pay off for my
LSTM, and after how many steps?" from the throughput records a run already
holds: no extra measurement.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from rnnbench import hookimpl
from rnnbench.report.section import ReportSection

if TYPE_CHECKING:  # registered with the built-in plugins, so imported by every command: nothing heavy at the top
    import pandas as pd

KINDS = {"train": "training step", "infer": "inference", "serve": "request (batch 1)"}
# Per call kind: the mode of its records, its first call's column and each process's steady call's column.
# A served request is a latency record's whole sequence: its first call, and the process's median call.
COLUMNS = {"train": ("throughput", "train_first_step_s", "train_process_s"),
           "infer": ("throughput", "infer_first_step_s", "infer_process_s"),
           "serve": ("latency", "whole_first_call_s", "whole_p50_s")}
CASE = ["machine", "workload", "device", "task", "cell", "dtype", "batch_size", "seq_len", "hidden_size",
        "num_layers"]
HEADERS = ("task", "cell", "shape", "backend", "call", "implementation", "first call", "steady call",
           "against (first, steady)", "break-even")


@dataclass(frozen=True)
class Contender:
    """One implementation (or tuned setting) of a backend, in one case and call kind."""

    label: str  # the report's name: "torch", "torch[compiled]", "torch[tuned: ...]"
    first_s: float  # median over processes of the first call
    steady_s: dict[int, float]  # each process's median call, keyed by its row

    @property
    def steady_median_s(self) -> float:
        return float(statistics.median(self.steady_s.values()))


def break_even_calls(late: Contender, early: Contender) -> int:
    """The first N at which ``late``'s N calls take less time than ``early``'s (late starts slower, runs faster).

    In exact arithmetic on the measured values (Fraction), so a tie is a tie, not a rounding.
    """
    extra_start = Fraction(late.first_s) - Fraction(early.first_s)
    saved_per_call = Fraction(early.steady_median_s) - Fraction(late.steady_median_s)
    return math.floor(extra_start / saved_per_call) + 2  # N - 1 calls after the first must save more than the start


def break_even(other: Contender, reference: Contender) -> str:
    """When ``other``'s total time drops below ``reference``'s (or the reverse), or why it never does."""
    from rnnbench.report.significance import process_test

    test = process_test(reference.steady_s, other.steady_s)
    if test.outcome not in ("faster", "slower"):
        return f"not resolved: steady calls {test.outcome}"
    runs_faster = test.outcome == "faster"
    starts_quicker = other.first_s <= reference.first_s
    if runs_faster and starts_quicker:
        return "ahead from the first call"
    if not runs_faster and not starts_quicker:
        return "never: starts slower and runs slower"
    if runs_faster:
        return f"pays off after {break_even_calls(other, reference):,} calls"
    return f"{reference.label} pays off after {break_even_calls(reference, other):,} calls"


def measured(rows: pd.DataFrame, kind: str) -> list[Contender]:
    """Each contender label's first and steady calls among ``rows`` (one case of one backend), those with
    both measured."""
    mode, first, steady = COLUMNS[kind]
    found = []
    for label, mine in rows[rows["mode"] == mode].groupby("backend", sort=True):
        both = mine[mine[first].notna() & mine[steady].gt(0)]
        if both.empty:
            continue
        found.append(Contender(str(label), float(both[first].median()),
                               {int(i): float(v) for i, v in both[steady].items()}))
    return found


def section_rows(frame: pd.DataFrame) -> Iterator[tuple[str, ...]]:
    """A row per implementation (or tuned setting) other than the reference of its backend, per case and call
    kind, where the backend has two or more measured."""
    from rnnbench.report.columns import seconds  # a report is being made: pandas is loaded already

    needed = {*CASE, "plugin", "backend", "mode", "status"}
    if not needed <= set(frame.columns):
        return
    timed = frame[frame["mode"].isin({mode for mode, _, _ in COLUMNS.values()}) & (frame["status"] == "ok")]
    for key, rows in timed.groupby([*CASE, "plugin"], sort=True, dropna=False):
        case = dict(zip([*CASE, "plugin"], key, strict=True))
        for kind, call in KINDS.items():
            if not set(COLUMNS[kind][1:]) <= set(rows.columns):
                continue
            found = measured(rows, kind)
            if len(found) < 2:
                continue
            reference = _reference(found, str(case["plugin"]))
            for other in found:
                if other is not reference:
                    yield (str(case["task"]), str(case["cell"]), _shape(case), str(case["plugin"]), call,
                           other.label, seconds(other.first_s), seconds(other.steady_median_s),
                           f"{reference.label}: {seconds(reference.first_s)}, {seconds(reference.steady_median_s)}",
                           break_even(other, reference))


def _reference(found: list[Contender], backend: str) -> Contender:
    """The backend's default (its plain name), else the quickest to start."""
    return next((c for c in found if c.label == backend), None) or min(found, key=lambda c: c.first_s)


def _shape(case: dict) -> str:
    return (f"B{case['batch_size']:.0f} T{case['seq_len']:.0f} H{case['hidden_size']:.0f} "
            f"L{case['num_layers']:.0f} {case['dtype']}")


@hookimpl
def rnnbench_report_sections(frame: pd.DataFrame) -> list[ReportSection]:
    rows = tuple(section_rows(frame))
    if not rows:
        return []
    return [ReportSection(
        "Compile or not: when a slower start pays off",
        "Per backend, each implementation (or tuned setting) set against the default: its first call (compilation "
        "and tracing included), its steady call, and the calls after which the one that starts slower has the lower "
        "total time, given where the steady calls differ over processes (p < 0.05).",
        HEADERS, rows)]
