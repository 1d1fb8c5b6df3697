"""Result records on disk: append-only JSON Lines with a schema version, and their loader.

A run folder ``results/<run-id>/`` holds ``records.jsonl`` (one JSON object
per finished case, appended and flushed as each case ends, so a crash or
Ctrl-C never loses a finished case) and ``environment.json``. Every record
names its schema version (``rnnbench.results.schema``); older versions load through its migrations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rnnbench.results import pytest_benchmark as benchjson
from rnnbench.results.schema import ResultsError, migrate, validate

RECORDS_FILE = "records.jsonl"
RUN_FILE = "run.json"  # the options of a run (rnnbench run writes it; --resume and reports read it)
ENVIRONMENT_FILE = "environment.json"
# One file per machine that ran cases when a run spans machines (the Ray executor);
# ENVIRONMENT_FILE is always the manager's own machine.
MACHINES_DIR = "environments"

class RecordWriter:
    """Appends validated records to a run's JSON Lines file, durably, one at a time."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / RECORDS_FILE

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(validate(record), allow_nan=False, sort_keys=True)
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(line + "\n")
            stream.flush()
            os.fsync(stream.fileno())


def _benchmark_file(path: Path) -> bool:
    """A pytest-benchmark JSON file: read as a run of throughput records (rnnbench/benchjson.py)."""
    return benchjson.is_benchmark_file(Path(path))


def read_records(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Every record of a run, migrated to the current schema.

    A last line cut short by a crash mid-write is skipped; any other bad
    line is an error naming the file and line. A pytest-benchmark JSON file
    in place of a run folder gives its micro-benchmarks as throughput records.
    """
    if _benchmark_file(run_dir):
        yield from benchjson.read_records(Path(run_dir))
        return
    path = Path(run_dir) / RECORDS_FILE
    if not path.is_file():
        raise ResultsError(f"no results file at {path}. Accepted: a run folder holding {RECORDS_FILE}")
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                return  # torn final write: everything before it is intact
            raise ResultsError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        yield validate(migrate(record))


def finished_case_ids(run_dir: Path) -> set[str]:
    """Cases a run already holds a record for (any status): what --resume skips."""
    if not (Path(run_dir) / RECORDS_FILE).is_file():
        return set()
    return {record["case_id"] for record in read_records(run_dir)}


def write_environment(run_dir: Path, environment: dict[str, Any]) -> None:
    (Path(run_dir) / ENVIRONMENT_FILE).write_text(json.dumps(environment, indent=2, sort_keys=True) + "\n")


def read_environment(run_dir: Path) -> dict[str, Any]:
    if _benchmark_file(run_dir):
        return benchjson.environment(Path(run_dir))
    path = Path(run_dir) / ENVIRONMENT_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def safe_filename(text: str, default: str = "unknown") -> str:
    """``text`` as one file name that stays in its folder: letters, digits, '-', '_' and '.', no leading dot."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).lstrip(".")
    return name or default


def write_machine_environment(run_dir: Path, environment: dict[str, Any]) -> Path:
    """Save the environment of one more machine of a run; the file is named after its hostname."""
    folder = Path(run_dir) / MACHINES_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{safe_filename(str(environment.get('hostname', 'unknown')))}.json"
    path.write_text(json.dumps(environment, indent=2, sort_keys=True) + "\n")
    return path


def read_environments(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every machine's environment in a run, keyed by the ``machine`` string its records carry."""
    found = [read_environment(run_dir)]
    folder = Path(run_dir) / MACHINES_DIR
    if folder.is_dir() and Path(run_dir).is_dir():
        found += [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    return {env.get("machine", ""): env for env in found if env}


def run_dirs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Run folders named directly, or found one level below a results folder.

    pytest-benchmark JSON files count as runs too: named directly, or found in
    a folder or one level below it (its storage layout, e.g. ``.bench/``).
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / RECORDS_FILE).is_file() or benchjson.is_benchmark_file(path):
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.glob(f"*/{RECORDS_FILE}")))
            found.extend(benchjson.benchmark_files(path))
        else:
            raise ResultsError(f"{path} is not a run folder. Accepted: a folder holding {RECORDS_FILE}, its parent, "
                               "or a pytest-benchmark JSON file")
    return found
