"""Result records on disk: append-only JSON Lines with a schema version, and their loader.

A run folder ``results/<run-id>/`` holds ``records.jsonl`` (one JSON object
per finished case, appended and flushed as each case ends, so a crash or
Ctrl-C never loses a finished case) and ``environment.json``. Every record
names its schema version (``rnnbench.results.schema``); older versions load through its migrations.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rnnbench.errors import ResultsWriteError
from rnnbench.files import write_atomic
from rnnbench.results import pytest_benchmark as benchjson
from rnnbench.results.schema import LOST, ResultsError, impossible, migrate, validate

RECORDS_FILE = "records.jsonl"
RUN_FILE = "run.json"  # the options of a run (rnnbench run writes it; --resume and reports read it)
ENVIRONMENT_FILE = "environment.json"
# One file per machine that ran cases when a run spans machines (the Ray executor);
# ENVIRONMENT_FILE is always the manager's own machine.
MACHINES_DIR = "environments"

class RecordWriter:
    """Appends validated records to a run's JSON Lines file, durably, one whole line at a time.

    Opening a writer first cuts off a torn last line (a crash or a full disk
    in the middle of an earlier write), moving the fragment aside to
    ``records.jsonl.torn-N`` and saying so in ``repaired``, so the next record
    never lands on a fragment. Each record is one ``os.write`` of the whole
    line, then fsync; a write that fails is undone (the file is cut back to
    its length before it) and raised as ResultsWriteError, so the folder always
    ends with a whole line and resumes cleanly.
    """

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / RECORDS_FILE
        self.repaired = cut_torn_tail(self.path)  # one line for the user, or None

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(validate(record), allow_nan=False, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            before = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:  # a short write is followed by the one that says why (ENOSPC)
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, before)  # no torn line left behind
                raise ResultsWriteError(f"could not write a record to {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)


def cut_torn_tail(path: Path) -> str | None:
    """Move a last line without its newline aside; one line saying what was done, or None."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return None
    keep = data.rfind(b"\n") + 1
    aside = next(path.with_name(f"{path.name}.torn-{n}") for n in itertools.count(1)
                 if not path.with_name(f"{path.name}.torn-{n}").exists())
    aside.write_bytes(data[keep:])
    with open(path, "r+b") as stream:
        stream.truncate(keep)
        stream.flush()
        os.fsync(stream.fileno())
    return (f"{path}: its last line was torn (a crash or a full disk mid-write); its {len(data) - keep} bytes "
            f"were moved to {aside.name} and the case will run again")


def _benchmark_file(path: Path) -> bool:
    """A pytest-benchmark JSON file: read as a run of throughput records (rnnbench/benchjson.py)."""
    return benchjson.is_benchmark_file(Path(path))


def read_records(run_dir: Path, skipped: list[str] | None = None, *,
                 measurements: bool = True) -> Iterator[dict[str, Any]]:
    """Every record of a run, migrated to the current schema.

    A last line cut short by a crash mid-write is skipped; any other bad
    line is an error naming the file and line, or, when ``skipped`` is a
    list, noted there ("FILE:LINE: why") and skipped, so a report still
    shows every intact record. With ``measurements`` a record holding a
    value no measurement takes (a median of 0 or Infinity: ``schema.impossible``)
    is such a bad line too; ``--resume`` reads without it, since that case
    did run. A pytest-benchmark JSON file in place of a run folder gives its
    micro-benchmarks as throughput records.
    """
    if _benchmark_file(run_dir):
        yield from benchjson.read_records(Path(run_dir), skipped)
        return
    path = Path(run_dir) / RECORDS_FILE
    if not path.is_file():
        raise ResultsError(f"no results file at {path}. Accepted: a run folder holding {RECORDS_FILE}")
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ResultsError(f"{path} cannot be read: {exc.strerror or exc}. Accepted: a readable file") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield _parse(line, measurements)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                return  # torn final write: everything before it is intact
            _bad(f"{path}:{number}: not JSON ({exc.msg})", skipped)
        except ResultsError as exc:
            _bad(f"{path}:{number}: {exc}", skipped)


def _parse(line: str, measurements: bool) -> dict[str, Any]:
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ResultsError(f"a record is {type(record).__name__} {line[:40]!r}. Accepted: a JSON object")
    record = validate(migrate(record))
    if measurements and (problem := impossible(record)):
        raise ResultsError(problem)
    return record


def _bad(message: str, skipped: list[str] | None) -> None:
    if skipped is None:
        raise ResultsError(message)
    skipped.append(message)


def finished_case_ids(run_dir: Path) -> set[str]:
    """Cases a run already holds a record for (any status but lost: its machine vanished): what --resume skips."""
    if not (Path(run_dir) / RECORDS_FILE).is_file():
        return set()
    return {record["case_id"] for record in read_records(run_dir, measurements=False) if record["status"] != LOST}


def write_environment(run_dir: Path, environment: dict[str, Any]) -> None:
    write_json_file(Path(run_dir) / ENVIRONMENT_FILE, environment)


def write_json_file(path: Path, document: dict[str, Any]) -> None:
    """``document`` as ``path``, whole or not at all (``files.write_atomic``); ResultsWriteError in one line."""
    try:
        write_atomic(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise ResultsWriteError(f"could not write {path}: {exc.strerror or exc}") from None


def read_json_file(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ResultsError, in one line, when it cannot be read as one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} cannot be read ({exc}). Accepted: the JSON file rnnbench wrote") from None
    if not isinstance(document, dict):
        raise ResultsError(f"{path} holds {type(document).__name__}. Accepted: a JSON object")
    return document


def read_environment(run_dir: Path) -> dict[str, Any]:
    if _benchmark_file(run_dir):
        return benchjson.environment(Path(run_dir))
    path = Path(run_dir) / ENVIRONMENT_FILE
    return read_json_file(path) if path.is_file() else {}


def safe_filename(text: str, default: str = "unknown") -> str:
    """``text`` as one file name that stays in its folder: letters, digits, '-', '_' and '.', no leading dot."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).lstrip(".")
    return name or default


def write_machine_environment(run_dir: Path, environment: dict[str, Any]) -> Path:
    """Save the environment of one more machine of a run; the file is named after its hostname."""
    folder = Path(run_dir) / MACHINES_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{safe_filename(str(environment.get('hostname', 'unknown')))}.json"
    write_json_file(path, environment)
    return path


def read_environments(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every machine's environment in a run, keyed by the ``machine`` string its records carry."""
    found = [read_environment(run_dir)]
    folder = Path(run_dir) / MACHINES_DIR
    if folder.is_dir() and Path(run_dir).is_dir():
        found += [read_json_file(path) for path in sorted(folder.glob("*.json"))]
    return {str(env.get("machine", "")): env for env in found if env}


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
