"""The console summary at the end of a run, built from ``load_results`` like every report.

Per task, one row per backend and cell: training throughput (median with
its 95% interval), the first-step time, peak memory above the baseline,
and the task's headline metric.
"""

from __future__ import annotations

import math

import pandas as pd
from rich.table import Table


def _number(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def _throughput(row: pd.Series) -> str:
    """samples/s at the median step, with the interval turned into samples/s as well."""
    median, low, high, batch = (row.get(k) for k in ("train_step_s", "train_step_ci_low_s",
                                                       "train_step_ci_high_s", "batch_size"))
    if not median or not batch or pd.isna(median):
        return "-"
    flag = " (unstable)" if row.get("train_unstable") else ""
    return f"{batch / median:,.0f} [{batch / high:,.0f}, {batch / low:,.0f}]{flag}"


def _cell_rows(frame: pd.DataFrame, task: str, headline: str) -> list[list[str]]:
    rows = []
    for (backend, cell), group in frame[frame.task == task].groupby(["backend", "cell"], sort=True):
        by_mode = {mode: g.iloc[-1] for mode, g in group.groupby("mode")}
        speed, memory, accuracy = (by_mode.get(m) for m in ("throughput", "memory", "accuracy"))
        failures = [f"{r['mode']}: {r['status']}" for _, r in group.iterrows() if r.status != "ok"]
        rows.append([
            backend, cell,
            _throughput(speed) if speed is not None else "-",
            _number(speed.get("train_first_step_s") if speed is not None else None, ".2f"),
            _number(memory.get("memory_peak_bytes") / 2**20 if memory is not None
                    and pd.notna(memory.get("memory_peak_bytes")) else None, ",.0f"),
            _number(accuracy.get(f"metric_{headline}") if accuracy is not None else None, ".4f"),
            "; ".join(failures) or "ok",
        ])
    return rows


def summary_tables(frame: pd.DataFrame, headlines: dict[str, str]) -> list[Table]:
    """One table per task; ``headlines`` names each task's headline metric (Task.headline)."""
    tables = []
    for task in sorted(frame.task.unique()):
        headline = headlines.get(task, "")
        table = Table(title=f"{task}: training throughput (samples/s, median [95% CI]), peak memory above "
                            f"baseline, {headline or 'metric'}")
        for column in ("backend", "cell", "train samples/s", "first step s", "peak MB", "metric", "status"):
            table.add_column(column, justify="right" if column not in ("backend", "cell", "status") else "left")
        for row in _cell_rows(frame, task, headline):
            table.add_row(*row)
        tables.append(table)
    return tables
