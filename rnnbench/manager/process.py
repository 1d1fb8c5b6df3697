"""The manager: one fresh worker process per case, checked strictly, recorded at once.

A worker gets its case as a JSON file and writes exactly one JSON document.
The manager enforces the per-case timeout, classifies a worker that dies
without a document (signal, exit code, out of memory), keeps the tail of
its output, and appends one record per case to the run's JSON Lines file
before starting the next case, so nothing finished is ever lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rnnbench.manager.case import Case
from rnnbench.results.schema import SCHEMA_VERSION
from rnnbench.worker.parity import thread_environment

WORKER_STATUSES = ("ok", "nan", "oom", "failed")
WORKER_KEYS = ("status", "error")
TAIL_CHARS = 4000
OOM_MARKERS = ("MemoryError", "std::bad_alloc", "out of memory", "Cannot allocate memory", "OOM")

# Frameworks must not grab all GPU memory up front, or memory figures mean nothing;
# TF's C++ logging would bury the stderr tail.
WORKER_ENV = {"PYTHONUNBUFFERED": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
              "TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass(frozen=True)
class WorkerOutcome:
    """What came back from one worker process."""

    document: dict[str, Any] | None
    returncode: int | None  # None when it was killed for the timeout
    timed_out: bool
    seconds: float
    output_tail: str
    command: list[str]


def worker_command(case_path: Path, out_path: Path) -> list[str]:
    return [sys.executable, "-m", "rnnbench.worker", str(case_path), str(out_path)]


def run_worker(case: Case, timeout_s: float, scratch: Path) -> WorkerOutcome:
    """Run ``case`` in a fresh process in its own session (Ctrl-C reaches only the manager)."""
    case_path, out_path, log_path = scratch / "case.json", scratch / "result.json", scratch / "output.log"
    case_path.write_text(json.dumps(case.to_dict()))
    out_path.unlink(missing_ok=True)
    command = worker_command(case_path, out_path)
    env = os.environ | WORKER_ENV | thread_environment(case.threads)
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            returncode: int | None = process.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(process)
            returncode, timed_out = None, True
        except BaseException:  # Ctrl-C: never leave a worker behind
            _kill_group(process)
            raise
    seconds = time.perf_counter() - started
    tail = log_path.read_text(errors="replace")[-TAIL_CHARS:]
    return WorkerOutcome(_read_document(out_path), returncode, timed_out, seconds, tail, command)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _read_document(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {"status": "failed", "error": f"invalid worker document: {exc}"}
    return document if isinstance(document, dict) else {"status": "failed", "error": "invalid worker document"}


def classify(outcome: WorkerOutcome, timeout_s: float) -> tuple[str, str | None]:
    """The status and one-line error of a worker, from its document or from how it died."""
    document = outcome.document
    if outcome.timed_out:
        return "timeout", f"no result within the {timeout_s:g} s timeout; the worker was killed"
    if document is not None:
        missing = [k for k in WORKER_KEYS if k not in document]
        if missing or document["status"] not in WORKER_STATUSES:
            return "failed", f"invalid worker document: missing {missing} or status {document.get('status')!r}"
        return document["status"], document.get("error")
    if any(marker in outcome.output_tail for marker in OOM_MARKERS):
        return "oom", f"the worker ran out of memory (exit {outcome.returncode})"
    if outcome.returncode is not None and outcome.returncode < 0:
        name = signal.Signals(-outcome.returncode).name
        return "crashed", f"the worker was killed by {name} before writing a result"
    return "crashed", f"the worker exited with code {outcome.returncode} without writing a result"


def build_record(case: Case, outcome: WorkerOutcome, run_id: str, machine: str, timeout_s: float,
                 started_at: str) -> dict[str, Any]:
    """One schema-versioned record: the case, what the worker measured, how it ended."""
    status, error = classify(outcome, timeout_s)
    document = outcome.document if outcome.document is not None and status not in ("timeout",) else {}
    record = {key: value for key, value in document.items() if key not in ("status", "error")}
    record.update({
        "schema": SCHEMA_VERSION, "run_id": run_id, "case_id": case.case_id, "backend": case.backend,
        "task": case.task, "cell": case.cell, "device": case.device, "mode": case.mode,
        "config": case.to_dict(), "status": status, "error": error, "machine": machine,
        "started_at": started_at, "duration_s": round(outcome.seconds, 6),
    })
    if status != "ok":
        record["command"] = " ".join(outcome.command)
        record["stderr_tail"] = outcome.output_tail
    return record


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def scratch_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="rnnbench-worker-")
