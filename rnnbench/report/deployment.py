"""Where to deploy it: the serving answer of latency runs, per task and case.

From the latency mode's records (``rnnbench run --mode latency``): for each
case (machine, task, cell, network, batch, device, precision) the backend
with the lowest p99 of a whole sequence (one ``predict``, a request that
brings the whole series), and the fastest streaming step (one ``step`` with
the state carried, a request that brings the next frame), with the margin
over the runner-up and whether it holds over the worker processes.

Each process gives one value (its p99, or its streaming p50), and the
runner-up's processes are tested against the winner's paired by round, the
test every speed claim of a report rests on
(``rnnbench.report.significance.process_test``): calls of one process are
not independent, so a tail quantile over them is one number per process.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from rnnbench.report.section import ReportSection
from rnnbench.report.significance import ONE_PROCESS, TOO_FEW, process_test, round_of

CASE = ["machine", "task", "cell", "device", "dtype", "batch_size", "seq_len", "hidden_size", "num_layers"]
# What is ranked: the column of each process's value, and how the measure reads.
MEASURES = {"whole": ("whole_p99_s", "lowest p99, whole sequence"),
            "stream": ("stream_p50_s", "fastest streaming step (p50)")}
HEADERS = ("task", "cell", "shape", "lowest p99, whole sequence", "fastest streaming step (p50)", "measured")


@dataclass(frozen=True)
class ServeWin:
    """The best backend of one case for one serving measure, and how far ahead it is."""

    task: str
    case: str  # "lstm B1 T96 H32 L1"
    measure: str  # "whole" or "stream"
    winner: str
    seconds: float  # the winner's value: median over its processes
    tail_s: float | None  # streaming: the winner's p99 beside its p50; None for whole sequences
    runner_up: str | None
    margin: float | None  # the runner-up's value over the winner's
    sureness: str  # "significant", "not significant", "too few processes", "one process: not tested", "one backend"

    def text(self) -> str:
        tail = f" (p99 {latency(self.tail_s)})" if self.tail_s is not None else ""
        ahead = (f", {self.margin:.2f}x ahead of {self.runner_up} ({self.sureness})" if self.runner_up
                 else " (the only backend measured)")
        return f"{self.winner} {latency(self.seconds)}{tail}{ahead}"


def latency(value: float | None) -> str:
    """Seconds as µs below a millisecond, ms below a second: a streamed step and a long sequence both read."""
    if value is None or pd.isna(value):
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.3g} µs"
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:,.3g} s"


def latency_cases(frame: pd.DataFrame) -> Iterator[tuple[dict, pd.DataFrame]]:
    """Each case's fields and its ok latency rows, case by case; nothing when the records hold no latency."""
    if "whole_p99_s" not in frame.columns:
        return
    rows = frame[(frame["mode"] == "latency") & (frame["status"] == "ok")]
    for key, group in rows.groupby(CASE, sort=True, dropna=False):
        yield dict(zip(CASE, key, strict=True)), group


def serving_wins(frame: pd.DataFrame) -> list[ServeWin]:
    """Per case and measure, who serves fastest; an empty list when the records hold no latency."""
    found = []
    for case, group in latency_cases(frame):
        for measure in MEASURES:
            win = _win(case, group, measure)
            if win is not None:
                found.append(win)
    return found


def _win(case: dict, group: pd.DataFrame, measure: str) -> ServeWin | None:
    column = MEASURES[measure][0]
    values = {str(backend): {round_of(r["repeat"]): float(r[column]) for _, r in mine.iterrows()
                             if not pd.isna(r[column]) and r[column] > 0}
              for backend, mine in group.groupby("backend", sort=True)}
    ranked = sorted(((statistics.median(v.values()), b) for b, v in values.items() if v))
    if not ranked:
        return None
    (best, winner), tail = ranked[0], None
    if measure == "stream":
        tail = float(group[group.backend == winner].stream_p99_s.median())
    label = f"{case['cell']} {_shape(case)}"
    if len(ranked) < 2:
        return ServeWin(str(case["task"]), label, measure, winner, best, tail, None, None, "one backend")
    second, runner_up = ranked[1]
    outcome = process_test(values[winner], values[runner_up], paired=True).outcome
    sure = {"slower": "significant", TOO_FEW: TOO_FEW, ONE_PROCESS: ONE_PROCESS}.get(outcome, "not significant")
    return ServeWin(str(case["task"]), label, measure, winner, best, tail, runner_up, second / best, sure)


def _shape(case: dict) -> str:
    shape = " ".join(f"{letter}{int(case[k])}" for letter, k in (("B", "batch_size"), ("T", "seq_len"),
                     ("H", "hidden_size"), ("L", "num_layers")) if not pd.isna(case[k]))
    extra = [str(case[k]) for k, plain in (("device", "cpu"), ("dtype", "float32")) if case[k] != plain]
    return " ".join([shape, *extra])


def deployment_section(frame: pd.DataFrame) -> ReportSection | None:
    """The report's deployment table, first after the verdict; None without latency records."""
    wins = serving_wins(frame)
    if not wins:
        return None
    by_case: dict[tuple[str, str], dict[str, ServeWin]] = {}
    for win in wins:
        by_case.setdefault((win.task, win.case), {})[win.measure] = win
    rows = []
    for (task, case), found in by_case.items():
        cell, shape = case.split(" ", 1)
        measured = frame[(frame["mode"] == "latency") & (frame.task == task) & (frame.cell == cell)].backend.nunique()
        rows.append((task, cell, shape, *(found[m].text() if m in found else "-" for m in MEASURES), str(measured)))
    return ReportSection(
        "Where to deploy it: latency at serving time",
        "Per case, the backend with the lowest p99 latency of one whole sequence, and the fastest streaming step "
        "(one step, the state carried), each the median over worker processes of each process's value, with "
        "the margin over the runner-up and whether the runner-up's processes are slower (paired by round, "
        "p < 0.05). First calls (load, compile) are apart, in each record.",
        HEADERS, tuple(rows))


def serving_answer(frame: pd.DataFrame) -> list[str]:
    """The verdict's "to serve it" lines: per task, who answers each case with the lowest p99 and who streams
    fastest."""
    wins = serving_wins(frame)
    lines = []
    for task in sorted({w.task for w in wins}):
        parts = []
        for measure, words in (("whole", "lowest p99 per sequence"), ("stream", "fastest streaming step")):
            mine = [w for w in wins if w.task == task and w.measure == measure]
            if mine:
                parts.append(f"{words}: " + ", ".join(f"{w.case} {w.text()}" for w in mine))
        lines.append(f"To serve {task}, " + "; ".join(parts) + ".")
    return lines


def latency_charts(frame: pd.DataFrame, colors: dict[str, str]) -> list:
    """Per case, the latency distribution of each backend, whole sequences then streamed steps: the median over
    processes of each process's p50 (the bar) and p99 (the whisker's end), each process's p99 a dot."""
    from rnnbench.report.svg import bar_chart  # the HTML page only

    charts = []
    for case, group in latency_cases(frame):
        label = f"{case['task']} {case['cell']} {_shape(case)}"
        for prefix, what in (("whole", "a whole sequence"), ("stream", "a streamed step")):
            items = [_latency_bar(str(b), mine, prefix, colors[str(b)])
                     for b, mine in group.groupby("backend", sort=True) if mine[f"{prefix}_p99_s"].notna().any()]
            if items:
                charts.append(bar_chart(f"{label}: latency of {what}, median p50 (bar) to p99 (whisker) over the "
                                        "processes, each process's p99 a dot", "seconds", items,
                                        [(item.label, item.color) for item in items]))
    return charts


def _latency_bar(backend: str, rows: pd.DataFrame, prefix: str, color: str):
    from rnnbench.report.svg import BarItem

    measured = rows[rows[f"{prefix}_p99_s"].notna()]
    p50, p99 = float(measured[f"{prefix}_p50_s"].median()), float(measured[f"{prefix}_p99_s"].median())
    tip = f"{backend}: p50 {latency(p50)}, p99 {latency(p99)}, {len(measured)} processes"
    return BarItem(backend, p50, p50, p99, color, tip, tuple(float(v) for v in measured[f"{prefix}_p99_s"]))
