"""The report as Markdown (for READMEs) and as CSV (for spreadsheets).

Markdown shows the same columns as the HTML tables, best values in bold.
CSV keeps numbers as numbers: one row per task, backend, cell and
configuration, with the interval bounds in their own columns and the seeds
its records ran with (how many, the lowest, the highest: a ``--seed`` sweep
is one row). Every text from a plugin or a record has its control
characters escaped (``rnnbench.printable``).
"""

from __future__ import annotations

import io

import pandas as pd

from rnnbench.printable import printable
from rnnbench.report.columns import columns
from rnnbench.report.deployment import deployment_section
from rnnbench.report.model import ReportData
from rnnbench.report.section import ReportSection
from rnnbench.report.tables import best_mask, task_table
from rnnbench.report.verdict import HEADINGS, measures, rows_by_case, score_text, verdict, win_text
from rnnbench.report.views import run_view

CSV_COLUMNS = (
    "task", "run_id", "machine", "device", "dtype", "backend", "cell", "batch_size", "seq_len", "hidden_size",
    "num_layers", "seed_count", "seed_min", "seed_max", "train_sps", "train_sps_low", "train_sps_high",
    "train_ratio", "train_unstable", "infer_sps", "infer_sps_low", "infer_sps_high", "infer_ratio",
    "infer_unstable", "train_first_step_s", "infer_first_step_s", "memory_peak_mb", "memory_baseline_mb",
    "device_peak_mb", "metric_name", "metric", "time_to_target_s", "target", "train_steps", "equivalence_gap",
    "kernel_path", "conformance", "status")
TEXT_COLUMNS = ("task", "run_id", "machine", "device", "dtype", "backend", "cell", "metric_name", "target",
                "kernel_path", "conformance", "status")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); a quote makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# Every character that is live in a GitHub-flavoured Markdown table cell, and what shows it as itself.
# HTML (tags, entities) becomes entities; emphasis, code, links and strikethrough punctuation is
# backslash-escaped; "|" would end the cell and a line break the row. One translate pass: what it
# writes is never escaped again.
MARKDOWN_ESCAPES = str.maketrans({
    "\\": "\\\\", "&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "*": "\\*", "_": "\\_",
    "`": "\\`", "[": "\\[", "]": "\\]", "~": "\\~", "\n": " ", "\r": " "})


def _markdown_cell(text: str, best: bool) -> str:
    """Escapes what would break the table or render as markup (HTML, links, emphasis) in a README."""
    text = printable(text).translate(MARKDOWN_ESCAPES)
    return f"**{text}**" if best and text != "-" else text


def markdown_verdict(data: ReportData) -> list[str]:
    """``## Verdict``: the answer, the winners per case, the geomeans, the heatmaps, the caveats."""
    found = verdict(data)
    cell = _markdown_cell
    parts = ["## Verdict", "", *(f"- {cell(line, False)}" for line in found.answer), ""]
    shown_measures = measures(found.wins)
    if found.wins:
        parts += ["| task | case | " + " | ".join(HEADINGS[m] for m in shown_measures) + " |",
                  "|---|---|" + "---|" * len(shown_measures)]
    for task, case, by_measure in rows_by_case(found.wins):
        shown = [win_text(by_measure[m]) if m in by_measure else "-" for m in shown_measures]
        parts.append("| " + " | ".join(cell(text, False) for text in (task, case, *shown)) + " |")
    if found.scores:
        parts += ["", "Speed relative to the fastest backend of each case, geometric mean over the cases "
                  "[95% bootstrap interval] (1.00: the fastest everywhere):", "",
                  "| backend | training | inference | cases won (training) |", "|---|---:|---:|---:|"]
    for backend in sorted({s.backend for s in found.scores}):
        mine = {s.measure: s for s in found.scores if s.backend == backend}
        texts = [score_text(mine[m]) if m in mine else "-" for m in ("training", "inference")]
        won = mine["training"].wins if "training" in mine else 0
        parts.append(f"| {cell(backend, False)} | {texts[0]} | {texts[1]} | {won} |")
    for heat in found.heatmaps:
        if not heat.rows:
            continue
        parts += ["", f"Relative {heat.measure} speed (1.00: the fastest of the row):", "",
                  "| case | " + " | ".join(cell(b, False) for b in heat.backends) + " |",
                  "|---|" + "---:|" * len(heat.backends)]
        for row, values in zip(heat.rows, heat.values, strict=True):
            shown = ["-" if v is None else f"{v:.2f}" for v in values]
            parts.append(f"| {cell(row, False)} | " + " | ".join(shown) + " |")
    if found.caveats:
        parts += ["", "Caveats:", "", *(f"- {cell(line, False)}" for line in found.caveats)]
    return [*parts, ""]


def render_markdown(data: ReportData) -> str:
    """``## Verdict`` first, then one table per task."""
    parts: list[str] = []
    for task in data.tasks:
        table = task_table(data.frame, task)
        cols, best = columns(table, task), best_mask(table, task)
        parts.append(f"## {_markdown_cell(task.name, False)}\n")
        parts.append("| " + " | ".join(_markdown_cell(c.label, False) for c in cols) + " |")
        parts.append("|" + "|".join("---:" if c.numeric else "---" for c in cols) + "|")
        for index, row in table.iterrows():
            parts.append("| " + " | ".join(_markdown_cell(c.text(row), bool(c.best and best.at[index, c.best]))
                                           for c in cols) + " |")
        parts.append("")
    note = ("Throughput: samples/s at the median step time [95% interval]; best of each cell and configuration "
            "in bold; memory: peak resident memory above the post-setup baseline.")
    found = deployment_section(data.frame)
    deployment = markdown_sections((found,) if found else ())
    return "\n".join([*markdown_verdict(data), *deployment, *markdown_runs(data), note, "", *parts,
                      *markdown_sections(data.sections)])


def markdown_sections(sections: tuple[ReportSection, ...]) -> list[str]:
    """Sections as Markdown (the deployment answer, what plugins add): a heading, its sentence and its table each."""
    lines: list[str] = []
    for section in sections:
        lines += [f"## {_markdown_cell(section.title, False)}", "", _markdown_cell(section.note, False), "",
                  "| " + " | ".join(_markdown_cell(h, False) for h in section.headers) + " |",
                  "|" + "|".join("---" for _ in section.headers) + "|"]
        lines += ["| " + " | ".join(_markdown_cell(cell, False) for cell in row) + " |" for row in section.rows]
        lines.append("")
    return lines


def markdown_runs(data: ReportData) -> list[str]:
    """``## Runs``: each run's machine, start, profile, seeds and records, as the HTML report's runs table."""
    cell = _markdown_cell
    lines = ["## Runs", "", "| run | machine | started | profile | seeds | records | not ok |",
             "|---|---|---|---|---|---:|---:|"]
    for run in (run_view(data, run_dir) for run_dir in data.run_dirs):
        texts = (run.run_id, run.machines, run.created, run.profiles, run.seeds)
        lines.append("| " + " | ".join(cell(t, False) for t in texts) + f" | {run.records} | {run.not_ok} |")
    return [*lines, ""]


def _defuse(value: object) -> object:
    """Text as a spreadsheet shows it: control characters escaped, a formula start made text."""
    if not isinstance(value, str):
        return value
    value = printable(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_table(data: ReportData) -> pd.DataFrame:
    tables = [task_table(data.frame, task).assign(task=task.name, metric_name=task.headline) for task in data.tasks]
    table = pd.concat(tables, ignore_index=True)[list(CSV_COLUMNS)]
    for column in TEXT_COLUMNS:
        table[column] = table[column].map(_defuse)
    return table


def render_csv(data: ReportData) -> str:
    stream = io.StringIO()
    csv_table(data).to_csv(stream, index=False, lineterminator="\n")
    return stream.getvalue()


