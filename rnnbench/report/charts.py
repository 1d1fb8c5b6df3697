"""The charts of one task: throughput and memory bars, learning curves, and step time against swept shapes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from rnnbench.conformance import REFERENCE_BACKEND
from rnnbench.report.columns import seconds, shape
from rnnbench.report.model import TaskInfo, is_missing
from rnnbench.report.svg import PALETTE, BarItem, Chart, LineData, bar_chart, finite, line_chart
from rnnbench.report.tables import GROUP, variant
from rnnbench.results.equivalence import EQUIVALENCE_TOLERANCE

SWEEPABLE = (("hidden_size", "hidden size"), ("seq_len", "sequence length"), ("batch_size", "batch size"))


def backend_colors(backends: list[str]) -> dict[str, str]:
    """One colour per backend, the same in every chart of the report."""
    return {name: PALETTE[n % len(PALETTE)] for n, name in enumerate(sorted(set(backends)))}


def _varying(table: pd.DataFrame) -> list[str]:
    """Columns besides backend that tell rows of this table apart in a label."""
    keys = ["run_id", "machine", "device", "dtype", "batch_size", "seq_len", "hidden_size", "num_layers"]
    return [k for k in keys if table[k].nunique(dropna=False) > 1]


def _label(row: pd.Series, varying: list[str], with_backend: bool = True) -> str:
    parts = [str(row.backend)] if with_backend else []
    parts.append(str(row.cell))
    if any(k in varying for k in ("batch_size", "seq_len", "hidden_size", "num_layers")):
        parts.append(shape(row))
    parts += [str(row[k]) for k in ("device", "dtype", "machine", "run_id") if k in varying]
    return " · ".join(parts)


def _legend(backends: Any, colors: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, colors[name]) for name in sorted(set(backends))]


def _interval(low: Any, high: Any) -> tuple[float | None, float | None]:
    """Both bounds, or neither: a record saved without its samples has no interval (NaN), and draws no whisker."""
    if is_missing(low) or is_missing(high) or not (finite(float(low)) and finite(float(high))):
        return None, None
    return float(low), float(high)


def _bar(row: pd.Series, kind: str, label: str, color: str) -> BarItem:
    value = float(row[f"{kind}_sps"])
    low, high = _interval(row[f"{kind}_sps_low"], row[f"{kind}_sps_high"])
    interval = f" (95% CI {low:,.1f} to {high:,.1f})" if low is not None and high is not None else ""
    processes = tuple(row[f"{kind}_process_sps"]) if isinstance(row[f"{kind}_process_sps"], tuple) else ()
    counted = f", {len(processes)} processes" if len(processes) > 1 else ""
    return BarItem(label, value, low, high, color, f"{label}: {value:,.1f} samples/s{interval}{counted}",
                   processes if len(processes) > 1 else ())


def throughput_chart(table: pd.DataFrame, kind: str, colors: dict[str, str]) -> Chart | None:
    rows = table[table[f"{kind}_sps"].notna()]
    if rows.empty:
        return None
    varying = _varying(table)
    items = [_bar(r, kind, _label(r, varying), colors[r.backend]) for _, r in rows.iterrows()]
    name = "Training" if kind == "train" else "Inference"
    return bar_chart(f"{name} throughput: median over the processes, its 95% interval, each process a dot",
                     "samples/s", items,
                     _legend(rows.backend, colors))


def memory_chart(table: pd.DataFrame, column: str, title: str, colors: dict[str, str]) -> Chart | None:
    rows = table[table[column].notna()]
    if rows.empty:
        return None
    varying = _varying(table)
    items = [BarItem(_label(r, varying), r[column], None, None, colors[r.backend],
                     f"{_label(r, varying)}: {r[column]:,.1f} MB") for _, r in rows.iterrows()]
    return bar_chart(title, "MB", items, _legend(rows.backend, colors))


def curve_charts(frame: pd.DataFrame, task: TaskInfo, colors: dict[str, str]) -> list[Chart]:
    """Per cell (and configuration): the headline metric against wall time and against step, a line per backend."""
    rows = frame[(frame.task == task.name) & (frame["mode"] == "accuracy") & (frame.status == "ok")]
    if rows.empty or not task.headline:
        return []
    rows = rows.assign(variant=rows.record.map(variant))
    charts: list[Chart] = []
    for _, group in rows.groupby(GROUP, sort=True, dropna=False):
        first = group.iloc[0]
        name = f"{first.cell} {shape(first)}"
        for x_key, x_title in (("wall_seconds", "wall time (s)"), ("step", "training step")):
            lines = [_curve_line(r, task.headline, x_key, colors) for _, r in group.sort_values("backend").iterrows()]
            lines = [line for line in lines if line.points]
            if lines:
                charts.append(line_chart(f"{name}: {task.headline} against {x_title}", x_title, task.headline, lines))
        charts.extend(_step_loss_charts(group, name, colors))
    return charts


def _step_loss_charts(group: pd.DataFrame, name: str, colors: dict[str, str]) -> list[Chart]:
    """The equal-step check drawn: every backend's loss per step overlaid, and its relative gap to the reference."""
    curves = group[group.step_losses.map(lambda v: isinstance(v, list) and len(v) > 0)] \
        if "step_losses" in group else group.iloc[:0]
    if curves.empty:
        return []
    lines = [LineData(str(r.backend), colors[r.backend], tuple(
        (float(step), float(loss), None, None, f"{r.backend}: loss {loss:.6g} at step {step}")
        for step, loss in enumerate(r.step_losses, start=1) if isinstance(loss, (int, float))))
        for _, r in curves.sort_values("backend").iterrows()]
    charts = [line_chart(f"{name}: training loss per step (the same steps, weights and batches)", "training step",
                         "training loss", [line for line in lines if line.points])]
    reference = curves[curves.backend == REFERENCE_BACKEND]
    if not reference.empty:
        ref = reference.iloc[0].step_losses
        gaps = [_gap_line(r, ref, colors) for _, r in curves.sort_values("backend").iterrows()
                if r.backend != REFERENCE_BACKEND]
        gaps = [line for line in gaps if line.points]
        if gaps:
            charts.append(line_chart(f"{name}: relative loss gap to {REFERENCE_BACKEND} per step "
                                     f"(tolerance {EQUIVALENCE_TOLERANCE:g})", "training step",
                                     "|loss - reference| / reference", gaps))
    return charts


def _gap_line(row: pd.Series, reference: list[Any], colors: dict[str, str]) -> LineData:
    points = []
    for step, (loss, ref) in enumerate(zip(row.step_losses, reference, strict=False), start=1):
        if isinstance(loss, (int, float)) and isinstance(ref, (int, float)) and ref:
            gap = abs(loss - ref) / abs(ref)
            points.append((float(step), gap, None, None, f"{row.backend}: gap {gap:.2e} at step {step}"))
    return LineData(str(row.backend), colors[row.backend], tuple(points))


def _curve_line(row: pd.Series, metric: str, x_key: str, colors: dict[str, str]) -> LineData:
    points = []
    for point in row.curve if isinstance(row.curve, list) else []:
        x, y = point.get(x_key), (point.get("metrics") or {}).get(metric)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and finite(x) and finite(y):
            tip = f"{row.backend}: {metric} {y:.4g} at step {point.get('step')}, {point.get('wall_seconds', 0):.2f} s"
            points.append((float(x), float(y), None, None, tip))
    return LineData(str(row.backend), colors[row.backend], tuple(points))


def scaling_charts(table: pd.DataFrame, colors: dict[str, str]) -> list[Chart]:
    """Median training step time against each swept shape, with its interval, a line per backend and cell."""
    rows = table[table.train_sps.notna() & table.batch_size.notna()]
    charts = []
    for key, title in SWEEPABLE:
        if rows[key].nunique() < 2:
            continue
        others = [k for k in _varying(rows) if k != key]
        lines = [_scaling_line(group.sort_values(key), key, others, colors)
                 for _, group in rows.groupby(["backend", "cell", *others], sort=True, dropna=False)]
        lines = [line for line in lines if len(line.points) > 1]  # a lone point is no trend (another run's case)
        if lines:
            charts.append(line_chart(f"Training step time against {title}", title, "median step time (ms)",
                                     lines, x_values=[p[0] for line in lines for p in line.points]))
    return charts


def _scaling_line(group: pd.DataFrame, key: str, others: list[str], colors: dict[str, str]) -> LineData:
    first = group.iloc[0]
    label = " · ".join([str(first.backend), str(first.cell), *(f"{k}={first[k]}" for k in others)])
    points = tuple(_step_point(r, key, label) for _, r in group.iterrows() if not is_missing(r.train_step_s))
    return LineData(label, colors[first.backend], points)


def _step_point(row: pd.Series, key: str, label: str) -> tuple[float, float, float | None, float | None, str]:
    """(x, median ms, interval ms or None, tooltip) of one configuration's training step."""
    low, high = _interval(row.train_step_low_s, row.train_step_high_s)
    low_ms, high_ms = (low * 1e3, high * 1e3) if low is not None and high is not None else (None, None)
    return (float(row[key]), float(row.train_step_s) * 1e3, low_ms, high_ms,
            f"{label}, {key}={int(row[key])}: {seconds(row.train_step_s)} per step")


def task_charts(frame: pd.DataFrame, table: pd.DataFrame, task: TaskInfo, colors: dict[str, str]) -> list[Chart]:
    """Every chart of a task, in reading order; charts without data are left out."""
    charts = [throughput_chart(table, "train", colors), throughput_chart(table, "infer", colors),
              *scaling_charts(table, colors),
              memory_chart(table, "memory_peak_mb", "Peak host memory above baseline", colors),
              memory_chart(table, "device_peak_mb", "Peak device memory", colors),
              *curve_charts(frame, task, colors)]
    return [chart for chart in charts if chart is not None]
