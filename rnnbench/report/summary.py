"""The console summary at the end of a run: the verdict first, then the report's own per-task tables.

Per task, one row per backend, cell and configuration (device, shape, dtype:
a sweep keeps every point), with the rounds of a case aggregated as the
report aggregates them (``rnnbench.report.tables``): training throughput,
samples/s at the median step with its 95% interval, the first-step time,
peak memory above the baseline, the task's headline metric, the steps the
accuracy pass trained and its loss gap to the NumPy reference over them.
"""

from __future__ import annotations

import pandas as pd
from rich.markup import escape
from rich.table import Table

from rnnbench.printable import printable
from rnnbench.report.columns import equivalence, seconds, shape, throughput
from rnnbench.report.deployment import deployment_section
from rnnbench.report.model import ReportData, is_missing, task_info
from rnnbench.report.tables import task_table
from rnnbench.report.verdict import HEADINGS, measures, rows_by_case, verdict, win_text

COLUMNS = ("backend", "cell", "device", "shape", "train samples/s [95% CI]", "first step", "peak MB", "metric",
           "steps", "loss gap", "status")


def rich_text(text: str) -> str:
    """Record text as rich shows it: its control characters and rich markup escaped."""
    return escape(printable(text))


def _number(value: object, fmt: str) -> str:
    return "-" if is_missing(value) else format(value, fmt)


def _cells(row: pd.Series) -> list[str]:
    return [str(row.backend), str(row.cell), str(row.device), shape(row), throughput(row, "train"),
            seconds(row.train_first_step_s), _number(row.memory_peak_mb, ",.0f"), _number(row.metric, ".4f"),
            _number(row.train_steps, ",.0f"), equivalence(row), str(row.status)]


def verdict_lines(data: ReportData) -> list[str | Table]:
    """The verdict (``rnnbench.report.verdict``) for a terminal: the answer, a table of winners, the caveats."""
    found = verdict(data)
    table = Table(title="who wins each case (margin over the runner-up, significance)")
    shown = measures(found.wins)
    for column in ("task", "case", *(HEADINGS[m] for m in shown)):
        table.add_column(column)
    for task, case, by in rows_by_case(found.wins):
        table.add_row(*(rich_text(t) for t in (task, case, *(win_text(by[m]) if m in by else "-" for m in shown))))
    return ["[bold]Verdict[/bold]", *(rich_text(f"- {line}") for line in found.answer),
            *([table] if found.wins else []), *(rich_text(f"caveat: {line}") for line in found.caveats)]


def summary_tables(frame: pd.DataFrame) -> list[Table]:
    """One table per task, its headline metric as the records name it; then where to deploy it (latency)."""
    tables = []
    for name in sorted(frame[frame["mode"] != "latency"].task.unique()):
        task = task_info(frame, name)
        table = Table(title=rich_text(f"{name}: training throughput (samples/s at the median step [95% CI]), "
                                  f"peak memory above baseline, {task.headline or 'metric'}, steps trained, "
                                  "loss gap to the reference at the same steps"))
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("backend", "cell", "device", "status") else "right")
        for _, row in task_table(frame, task).iterrows():
            table.add_row(*(rich_text(cell) for cell in _cells(row)))
        tables.append(table)
    deployment = deployment_section(frame)
    if deployment is not None:
        table = Table(title=rich_text(deployment.title))
        for column in deployment.headers:
            table.add_column(column)
        for row in deployment.rows:
            table.add_row(*(rich_text(cell) for cell in row))
        tables.append(table)
    return tables
