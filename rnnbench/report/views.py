"""What the HTML template shows, as plain values: runs, per-task tables and charts, environments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.report.charts import backend_colors, task_charts
from rnnbench.report.columns import Column, columns
from rnnbench.report.deployment import deployment_section, latency_charts
from rnnbench.report.environment import EnvironmentTable, environment_table
from rnnbench.report.model import ReportData, TaskInfo, run_id, seeds, seeds_text
from rnnbench.report.section import ReportSection
from rnnbench.report.svg import Chart
from rnnbench.report.tables import best_mask, task_table
from rnnbench.report.verdict import Win, measures, rows_by_case, score_text, verdict, win_text


@dataclass(frozen=True)
class CellView:
    text: str
    sort: str  # the data-sort attribute: a number, or text
    best: bool


@dataclass(frozen=True)
class TaskView:
    name: str
    headline: str
    goal: str | None
    headers: tuple[tuple[str, bool], ...]  # (label, numeric)
    rows: tuple[tuple[tuple[CellView, ...], bool, bool], ...]  # (cells, failed, first row of a group)
    charts: tuple[Chart, ...]


@dataclass(frozen=True)
class RunView:
    run_id: str
    machines: str
    created: str
    profiles: str
    seeds: str  # the seeds its records ran with: "0", "0-4 (5 seeds)"
    records: int
    not_ok: int


@dataclass(frozen=True)
class HeatView:
    measure: str
    backends: tuple[str, ...]
    rows: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (case, ((text, css class), ...))


@dataclass(frozen=True)
class VerdictView:
    answer: tuple[str, ...]
    measures: tuple[str, ...]  # the columns of the table of winners
    # (task, case, ((winner and margin, how sure: "sure", "unsure" or "untested", the whole win in words), ...))
    cases: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...]
    scores: tuple[tuple[str, str, str], ...]  # (backend, training, inference)
    heatmaps: tuple[HeatView, ...]
    caveats: tuple[str, ...]


@dataclass(frozen=True)
class ReportView:
    runs: tuple[RunView, ...]
    tasks: tuple[TaskView, ...]
    environment: EnvironmentTable
    records: int
    verdict: VerdictView
    sections: tuple[ReportSection, ...] = ()  # what plugins add, after the environment
    deployment: ReportSection | None = None  # latency runs: where to deploy it, right after the verdict
    deployment_charts: tuple[Chart, ...] = ()  # its latency distribution per case


def _sort_key(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return repr(float(value))
    return str(value)


def _rows(table: pd.DataFrame, cols: list[Column], task: TaskInfo) -> tuple:
    best = best_mask(table, task)
    group_keys = table[["run_id", "machine", "variant", "cell"]].astype(str).agg("|".join, axis=1)
    rows = []
    for n, (index, row) in enumerate(table.iterrows()):
        cells = tuple(CellView(c.text(row), _sort_key(c.sort(row)), bool(c.best and best.at[index, c.best]))
                      for c in cols)
        starts_group = n == 0 or group_keys.iloc[n] != group_keys.iloc[n - 1]
        rows.append((cells, row["status"] != "ok", starts_group))
    return tuple(rows)


def task_view(data: ReportData, task: TaskInfo, colors: dict[str, str]) -> TaskView:
    table = task_table(data.frame, task)
    cols = columns(table, task)
    return TaskView(task.name, task.headline, task.goal, tuple((c.label, c.numeric) for c in cols),
                    _rows(table, cols, task), tuple(task_charts(data.frame, table, task, colors)))


def _created(run_file: dict[str, Any], records: pd.DataFrame) -> str:
    """When the run started: run.json's timestamp, else its first record's."""
    if created := run_file.get("created"):
        return str(created)
    starts = [str(r.get("started_at")) for r in records.record if r.get("started_at")]
    return min(starts) if starts else ""


def run_view(data: ReportData, run_dir: Path) -> RunView:
    frame = data.frame
    records = frame[frame.run_dir == str(run_dir)]
    run_file = dict(zip(data.run_dirs, data.run_files, strict=False)).get(run_dir, {})
    return RunView(run_id(frame, run_dir), ", ".join(sorted(map(str, records.machine.dropna().unique()))),
                   _created(run_file, records), ", ".join(sorted(map(str, records.profile.dropna().unique()))),
                   seeds_text(seeds(records.record)), len(records), int((records.status != "ok").sum()))


def _heat_class(value: float | None) -> str:
    """Five shades of relative speed: 1.00 (the fastest) down to under half of it."""
    if value is None:
        return "heat-none"
    return f"heat-{min(4, int((1.0 - value) * 8))}"  # 1.00-0.88, -0.76, -0.63, -0.51, below


def verdict_view(data: ReportData) -> VerdictView:
    found = verdict(data)
    columns = tuple(measures(found.wins))
    cases = tuple((task, case, tuple(_win_cell(by.get(m)) for m in columns))
                  for task, case, by in rows_by_case(found.wins))
    backends = sorted({s.backend for s in found.scores})
    mine = {(s.backend, s.measure): score_text(s) for s in found.scores}
    scores = tuple((b, mine.get((b, "training"), "-"), mine.get((b, "inference"), "-")) for b in backends)
    heatmaps = tuple(HeatView(h.measure, h.backends, tuple(
        (row, tuple(("-" if v is None else f"{v:.2f}", _heat_class(v)) for v in values))
        for row, values in zip(h.rows, h.values, strict=True))) for h in found.heatmaps if h.rows)
    return VerdictView(found.answer, columns, cases, scores, heatmaps, found.caveats)


def _win_cell(win: Win | None) -> tuple[str, str, str]:
    """A cell of the table of winners: the winner and its margin, coloured by how sure the win is."""
    if win is None:
        return "-", "untested", "not measured"
    margin = f" {win.margin:.2f}x" if win.margin is not None and math.isfinite(win.margin) else ""
    return f"{win.winner}{margin}", SURENESS.get(win.sureness, "untested"), win_text(win)


# A win's sureness, as the colour of its cell: a test that decided, one that did not, or none at all.
SURENESS = {"significant": "sure", "seed ranges apart": "sure", "not significant": "unsure",
            "seed ranges overlap": "unsure"}


def report_view(data: ReportData) -> ReportView:
    colors = backend_colors([str(b) for b in data.frame.backend])
    return ReportView(tuple(run_view(data, d) for d in data.run_dirs),
                      tuple(task_view(data, task, colors) for task in data.tasks),
                      environment_table(data.environments), len(data.frame), verdict_view(data), data.sections,
                      deployment_section(data.frame), tuple(latency_charts(data.frame, colors)))
