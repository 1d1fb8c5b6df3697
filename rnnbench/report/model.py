"""What every report format starts from: the records of some runs, their tasks and their machines.

The only inputs are ``rnnbench.load_results`` and the runs' environment
files: no framework and no plugin is imported, so a report renders on any
machine that has the result files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rnnbench.errors import UsageError
from rnnbench.plugins.registry import Registry
from rnnbench.report.section import ReportSection
from rnnbench.results.frame import load_results
from rnnbench.results.schema import ResultsError
from rnnbench.results.store import RUN_FILE, read_environments, read_json_file, run_dirs


@dataclass(frozen=True)
class TaskInfo:
    """A task as a report shows it: its headline metric and which way that metric improves."""

    name: str
    headline: str  # the metric shown in tables (without the metric_ prefix); "" when the task has none
    goal: str | None  # "min" or "max"; None when no record says, and then no metric value is marked best


@dataclass(frozen=True)
class ReportData:
    frame: pd.DataFrame  # load_results of every run, plus run_dir: the folder each record came from
    tasks: tuple[TaskInfo, ...]  # in name order
    run_dirs: tuple[Path, ...]  # the runs that could be read
    environments: tuple[tuple[str, str, dict[str, Any]], ...]  # (run id, machine, environment) per machine
    skipped: tuple[str, ...] = ()  # "FILE:LINE: why" of each line, file or run that could not be read, left out
    run_files: tuple[dict[str, Any], ...] = ()  # each run's run.json beside run_dirs ({}: none, or unreadable)
    sections: tuple[ReportSection, ...] = ()  # what plugins add (rnnbench_report_sections), after the core's


PathsArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


def load_report_data(paths: PathsArg) -> ReportData:
    """Records, tasks and environments of the run folders under ``paths``.

    What cannot be read is left out and named in ``skipped``: a bad line of a records file, a run found
    inside a folder that is no readable run (a stray JSON file that looks like pytest-benchmark's), an
    unreadable run.json or environment. A run named directly that cannot be read is an error (ResultsError),
    and so are runs none of whose records can be read.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    skipped: list[str] = []
    frames, dirs = _read_runs(paths, skipped)
    if not frames and skipped:
        more = f" ({len(skipped) - 1} more like it)" if len(skipped) > 1 else ""
        raise ResultsError(f"no result record in {', '.join(map(str, paths))} can be read: {skipped[0]}{more}")
    if not frames:
        raise UsageError(f"no result records in {', '.join(map(str, paths))}. Accepted: run folders of rnnbench run")
    frame = contenders(pd.concat(frames, ignore_index=True))
    # A task's table holds its throughput, memory and accuracy; its latency is the deployment section's.
    tabled = frame[frame["mode"] != "latency"]
    tasks = tuple(task_info(frame, name) for name in sorted(tabled.task.unique()))
    environments = tuple(
        (run_id(frame, run_dir), machine, env | {"backend_versions": _versions(frame, run_dir, machine)})
        for run_dir in dirs for machine, env in _environments(run_dir, skipped).items())
    run_files = tuple(read_run_file(run_dir, skipped) for run_dir in dirs)
    sections, faults = Registry().report_sections(frame)
    skipped += [f"{fault} (its sections are left out)" for fault in faults]
    return ReportData(frame, tasks, dirs, environments, tuple(skipped), run_files, tuple(sections))


def _versions(frame: pd.DataFrame, run_dir: Path, machine: str) -> dict[str, str]:
    """Per backend of the run on ``machine``, what its records name: a plugin's distribution and version first,
    then the frameworks it declares (``Backend.versions``), so a plugin's results can be traced to it."""
    rows = frame[(frame.run_dir == str(run_dir)) & (frame.machine == machine)]
    named = {}
    for backend, group in rows.groupby("backend", sort=True):
        versions = group.record.iloc[-1].get("versions")
        if isinstance(versions, dict) and versions:
            named[str(backend)] = ", ".join(f"{name} {version}" for name, version in versions.items())
    return named


def _read_runs(paths: list[str | os.PathLike[str]], skipped: list[str]) -> tuple[list[pd.DataFrame], tuple[Path, ...]]:
    """Each readable run's records (those with any), and the runs read; one folder at a time, so each row knows
    its folder (a copied run folder may be renamed)."""
    named = {Path(p) for p in paths}
    frames, dirs = [], []
    for run_dir in run_dirs(paths):
        try:
            frame = load_results(run_dir, skipped)
        except ResultsError as exc:
            if run_dir in named:
                raise
            skipped.append(f"{exc} (the run is left out)")
            continue
        dirs.append(run_dir)
        if not frame.empty:
            frames.append(frame.assign(run_dir=str(run_dir)))
    return frames, tuple(dirs)


def read_run_file(run_dir: Path, skipped: list[str]) -> dict[str, Any]:
    """The run's run.json (its options and start); {} when it has none, or, noted in ``skipped``, when it cannot
    be read: a report needs only its start time, which the records also carry."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return {}
    try:
        return read_json_file(path)
    except ResultsError as exc:
        skipped.append(f"{exc}; the run's start is taken from its records")
        return {}


def contenders(frame: pd.DataFrame) -> pd.DataFrame:
    """Each backend at a non-default implementation is a contender of its own: "torch[loop]" beside "torch".

    Reports rank, colour and test what they call backends; a backend's default is its plain name,
    so a run without a chosen implementation reads exactly as before.
    """
    if "implementation" not in frame:
        return frame
    chosen = frame.implementation.notna() & frame.implementation_default.eq(False)
    named = frame.backend.where(~chosen, frame.backend + "[" + frame.implementation.astype(str) + "]")
    tuned = frame.record.map(lambda r: (r.get("tuning") or {}).get("role") == "tuned")  # `rnnbench tune`
    labels = frame.record.map(lambda r: str((r.get("tuning") or {}).get("label")))
    named = named.where(~tuned, frame.backend + "[tuned: " + labels + "]")
    return frame.assign(plugin=frame.backend, backend=named)


def _environments(run_dir: Path, skipped: list[str]) -> dict[str, dict[str, Any]]:
    """The run's machine descriptions; none, noted in ``skipped``, when one cannot be read."""
    try:
        return read_environments(run_dir)
    except ResultsError as exc:
        skipped.append(str(exc))
        return {}


def run_id(frame: pd.DataFrame, run_dir: Path) -> str:
    """The run id its records carry; the folder name when it holds none."""
    ids = frame.loc[frame.run_dir == str(run_dir), "run_id"].dropna().unique()
    return str(ids[0]) if len(ids) else run_dir.name


def task_info(frame: pd.DataFrame, name: str) -> TaskInfo:
    """The task as its records describe it: headline metric and goal."""
    headline = _recorded_headline(frame, name) or _target_metric(frame, name) or _first_metric(frame, name)
    return TaskInfo(name, headline, _goal(frame, name, headline))


def _recorded_headline(frame: pd.DataFrame, name: str) -> str:
    """The headline metric the task's records name (schema 3); "" for older records, which name none."""
    records = frame.loc[frame.task == name, "record"]
    found = [h.get("metric") for r in records if isinstance(h := r.get("headline"), dict)]
    return next((str(m) for m in found if m), "")


def _targets(frame: pd.DataFrame, name: str) -> list[dict[str, Any]]:
    records = frame.loc[(frame.task == name) & (frame["mode"] == "accuracy"), "record"]
    return [t for r in records if isinstance(t := (r.get("accuracy") or {}).get("target"), dict)]


def _target_metric(frame: pd.DataFrame, name: str) -> str:
    return next((str(t.get("metric")) for t in _targets(frame, name) if t.get("metric")), "")


def _first_metric(frame: pd.DataFrame, name: str) -> str:
    rows = frame[frame.task == name]
    found = [c for c in frame.columns if c.startswith("metric_") and rows[c].notna().any()]
    return sorted(found)[0].removeprefix("metric_") if found else ""


def _goal(frame: pd.DataFrame, name: str, headline: str) -> str | None:
    """The direction recorded with the headline, or with the task's target for that metric."""
    recorded = {h.get("goal") for r in frame.loc[frame.task == name, "record"]
                if isinstance(h := r.get("headline"), dict) and h.get("metric") == headline and h.get("goal")}
    goals = recorded or {t.get("goal") for t in _targets(frame, name) if t.get("metric") == headline}
    return goals.pop() if len(goals) == 1 and goals <= {"min", "max"} else None


def is_missing(value: object) -> bool:
    """None, NaN, or pandas' missing values."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and dicts are values, not missing
        return False


def seeds(records: Iterable[dict[str, Any]]) -> list[int]:
    """The seeds the records ran with (their config's ``seed``), in order, each once."""
    found = {(r.get("config") or {}).get("seed") for r in records}
    return sorted(s for s in found if isinstance(s, int) and not isinstance(s, bool))


def seeds_text(values: list[int]) -> str:
    """"0" for one seed, "0-4 (5 seeds)" for a range, "0, 3, 7 (3 seeds)" for a few others, "-" for none."""
    if len(values) < 2:
        return str(values[0]) if values else "-"
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]} ({len(values)} seeds)"
    if len(values) <= 5:
        return f"{', '.join(map(str, values))} ({len(values)} seeds)"
    return f"{values[0]} to {values[-1]} ({len(values)} seeds)"
