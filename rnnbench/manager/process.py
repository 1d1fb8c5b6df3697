"""The one launcher of child processes: workers, the conformance pre-check and the device probe.

Every child gets the same environment (``child_environment``), runs in its
own session (Ctrl-C reaches only the manager), has its stdout and stderr in
one log file of which only the tail is read back (bounded memory, however
much it prints), and is killed with its whole process group at its timeout
or when the manager is interrupted. A child reports by writing one JSON
document to the path it is given; ``read_document`` reads it back.

For workers, ``classify`` turns a worker that died without a document
(signal, exit code, out of memory) into a status and one line.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rnnbench import document as document_contract
from rnnbench.case import Case
from rnnbench.host import thread_environment
from rnnbench.results import schema

TAIL_CHARS = 4000

# Frameworks must not grab all GPU memory up front, or memory figures mean nothing;
# TF's C++ logging would bury the stderr tail.
WORKER_ENV = {"PYTHONUNBUFFERED": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
              "TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass(frozen=True, kw_only=True)
class WorkerOutcome:
    """What came back from one worker process."""

    document: dict[str, Any] | None
    returncode: int | None  # None when it was killed for the timeout
    timed_out: bool
    seconds: float
    output_tail: str
    command: list[str]


@dataclass(frozen=True, kw_only=True)
class ProcessOutcome:
    """How one child process ended."""

    returncode: int | None  # None when it was killed for the timeout
    timed_out: bool
    seconds: float
    output_tail: str  # the last TAIL_CHARS characters of its stdout and stderr
    command: list[str]

    def how_it_ended(self) -> str:
        """"exited with code 1", "was killed by SIGABRT", or "did not finish within 5 s"."""
        if self.timed_out or self.returncode is None:
            return "did not finish in time and was killed"
        if self.returncode < 0:
            return f"was killed by {signal.Signals(-self.returncode).name}"
        return f"exited with code {self.returncode}"

    def last_line(self) -> str:
        lines = self.output_tail.strip().splitlines()
        return lines[-1] if lines else "no output"


def child_environment(threads: int) -> dict[str, str]:
    """The environment of every child: the manager's, the worker settings, and ``threads`` for every framework."""
    return os.environ | WORKER_ENV | thread_environment(threads)


POLL_S = 0.1  # how often a wait that watches several children, or a child's progress, looks again


class _Child:
    """A started child: its own session, stdin closed, stdout and stderr into its log file, and a temporary
    folder of its own (TMPDIR), removed when it is closed.

    A worker leaves through ``os._exit``, so the files that frameworks remove at interpreter exit stay
    (TensorFlow's autograph writes about a dozen per worker); in the child's own TMPDIR they go with it.
    The folder is named like a scratch folder, so one left by a manager killed by SIGKILL is removed by
    ``remove_stale_scratch``.
    """

    def __init__(self, command: list[str], threads: int, log_path: Path) -> None:
        self.command, self.log_path, self.started = command, log_path, time.perf_counter()
        self.temp = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-tmp-")
        self.log = open(log_path, "wb")
        try:
            self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                            env=child_environment(threads) | {"TMPDIR": self.temp},
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=die_with_parent(os.getpid()))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.log.close()
        shutil.rmtree(self.temp, ignore_errors=True)

    def ended(self, timeout_s: float = 0.0) -> bool:
        try:
            self.process.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        _kill_group(self.process)

    def outcome(self, timed_out: bool) -> ProcessOutcome:
        self.close()
        return ProcessOutcome(returncode=None if timed_out else self.process.returncode, timed_out=timed_out,
                              seconds=time.perf_counter() - self.started,
                              output_tail=read_tail(self.log_path, TAIL_CHARS), command=self.command)


def run_process(command: list[str], timeout_s: float, threads: int, log_path: Path,
                progressed: Callable[[], bool] | None = None) -> ProcessOutcome:
    """Run ``command`` in its own session with output to ``log_path``; kill its group at the timeout or on Ctrl-C.

    With ``progressed`` (True each time the child finished a part of its work, e.g. one of several
    cases), the timeout applies to each part: the clock restarts whenever it returns True.
    """
    child = _Child(command, threads, log_path)
    try:
        deadline = time.perf_counter() + timeout_s
        while not child.ended(POLL_S if progressed else timeout_s):
            now = time.perf_counter()
            if progressed is not None and progressed():
                deadline = now + timeout_s
            if progressed is None or now >= deadline:
                child.kill()
                return child.outcome(timed_out=True)
    except BaseException:  # Ctrl-C: never leave a child behind
        child.kill()
        child.close()
        raise
    return child.outcome(timed_out=False)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: two identical jobs are two children
class Job:
    """One child of ``run_concurrently``."""

    command: list[str]
    timeout_s: float
    threads: int
    log_path: Path


def run_concurrently(jobs: list[Job], parallel: int) -> Generator[tuple[Job, ProcessOutcome], None, None]:
    """Run ``jobs``, at most ``parallel`` at once, yielding each as it ends; every child killed on Ctrl-C or close.

    For work that is checked, not timed (the conformance pre-check): children then share the cores.
    """
    waiting, running = list(jobs), list[tuple[Job, _Child]]()
    try:
        while waiting or running:
            while waiting and len(running) < parallel:
                job = waiting.pop(0)
                running.append((job, _Child(job.command, job.threads, job.log_path)))
            time.sleep(POLL_S)
            for job, child in list(running):
                timed_out = not child.ended() and time.perf_counter() - child.started >= job.timeout_s
                if timed_out:
                    child.kill()
                if timed_out or child.ended():
                    running.remove((job, child))
                    yield job, child.outcome(timed_out=timed_out)
    finally:  # Ctrl-C, or the caller stopped early: nothing keeps running
        for _, child in running:
            child.kill()
            child.close()
            child.log.close()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> Callable[[], None] | None:
    """For Popen's preexec_fn: the child is SIGKILLed when the process that started it dies (Linux).

    A child in its own session outlives a manager killed by SIGKILL; this
    kernel setting ends it too, so no case is timed beside a resumed run.
    None where the platform has no prctl.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:  # runs in the child between fork and exec: no Python objects created here
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the manager died before the setting took hold
            os._exit(1)

    return arm


def read_tail(path: Path, chars: int) -> str:
    """The last ``chars`` characters of a text file, reading at most 4 bytes per character of it."""
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - 4 * chars))
        return file.read().decode(errors="replace")[-chars:]


def python_module(module: str, *args: str | Path | int) -> list[str]:
    """``python -m module args...`` with this interpreter."""
    return [sys.executable, "-m", module, *map(str, args)]


def run_worker(case: Case, timeout_s: float, scratch: Path) -> WorkerOutcome:
    """Run ``case`` in a fresh worker process; its document, or None when it left none."""
    outcome = run_workers([case], timeout_s, scratch)[0]
    assert outcome is not None  # the first case of a process always has an outcome
    return outcome


def run_workers(cases: list[Case], timeout_s: float, scratch: Path) -> list[WorkerOutcome | None]:
    """Run ``cases`` (one process's, ``rnnbench.manager.schedule``) one after another in one fresh worker process.

    Each case has ``timeout_s`` of its own: the clock restarts when a document
    appears. The outcome of each case that left a document, and of the one
    that was running when the process ended; None for the cases after it,
    which never started (the caller runs them again, on their own).
    """
    paths = [(scratch / f"case-{n}.json", scratch / f"result-{n}.json") for n in range(len(cases))]
    for case, (case_path, out_path) in zip(cases, paths, strict=True):
        case_path.write_text(json.dumps(case.to_dict()))
        out_path.unlink(missing_ok=True)
    command = python_module("rnnbench.worker", *(str(p) for pair in paths for p in pair))
    marks = [time.perf_counter()]  # when the process started, then when each document was seen
    progressed = _progress(paths, marks)
    ended = run_process(command, timeout_s, cases[0].threads, scratch / "output.log",
                        progressed if len(cases) > 1 else None)
    progressed()  # documents written after the last look
    return _outcomes(paths, marks, ended)


def _progress(paths: list[tuple[Path, Path]], marks: list[float]) -> Callable[[], bool]:
    """True each time another case's document has appeared; ``marks`` gets the time it was seen."""
    def progressed() -> bool:
        done = sum(out.is_file() for _, out in paths)
        new = done - (len(marks) - 1)
        marks.extend([time.perf_counter()] * max(0, new))
        return new > 0

    return progressed


def _outcomes(paths: list[tuple[Path, Path]], marks: list[float], ended: ProcessOutcome) -> list[WorkerOutcome | None]:
    end = marks[0] + ended.seconds
    outcomes: list[WorkerOutcome | None] = []
    for n, (_, out) in enumerate(paths):
        document = read_document(out)
        if document is None and outcomes and (outcomes[-1] is None or outcomes[-1].document is None):
            outcomes.append(None)  # never started: a case before it was running when the process ended
            continue
        begun = marks[n] if n < len(marks) else marks[-1]
        finished = marks[n + 1] if document is not None and n + 1 < len(marks) else end
        last = document is None or n == len(paths) - 1
        outcomes.append(WorkerOutcome(
            document=document, returncode=ended.returncode if last else 0, timed_out=ended.timed_out and last,
            seconds=max(0.0, finished - begun), output_tail=ended.output_tail, command=ended.command))
    return outcomes


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def read_document(path: Path) -> dict[str, Any] | None:
    """The JSON object a child wrote to ``path``; None when it wrote none, a "failed" one when it is not JSON."""
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
        missing = [k for k in document_contract.REQUIRED if k not in document]
        if missing or document["status"] not in document_contract.STATUSES:
            return "failed", f"invalid worker document: missing {missing} or status {document.get('status')!r}"
        return document["status"], document.get("error")
    if document_contract.says_oom(outcome.output_tail):
        return "oom", f"the worker ran out of memory (exit {outcome.returncode})"
    if outcome.returncode is not None and outcome.returncode < 0:
        name = signal.Signals(-outcome.returncode).name
        return "crashed", f"the worker was killed by {name} before writing a result"
    return "crashed", f"the worker exited with code {outcome.returncode} without writing a result"


def build_record(case: Case, outcome: WorkerOutcome, run_id: str, machine: str, timeout_s: float,
                 started_at: str) -> dict[str, Any]:
    """The case's record (``rnnbench.results.schema``): what the worker measured, how it ended."""
    status, error = classify(outcome, timeout_s)
    document = outcome.document if outcome.document is not None and status not in ("timeout",) else {}
    record = build_record_of(case, run_id=run_id, status=status, error=error, measured=document, machine=machine,
                             started_at=started_at, duration_s=outcome.seconds)
    if status != "ok":
        record["command"] = " ".join(outcome.command)
        record["stderr_tail"] = outcome.output_tail
    return record


def build_record_of(case: Case, *, run_id: str, status: str, error: str | None, machine: str, started_at: str,
                    duration_s: float, measured: dict[str, Any] | None = None) -> dict[str, Any]:
    """``rnnbench.results.schema.build_record`` for ``case``."""
    return schema.build_record(run_id=run_id, case=case.to_dict(), case_id=case.case_id, case_key=case.case_key,
                               status=status, error=error, measured=measured or {}, machine=machine,
                               started_at=started_at, duration_s=duration_s)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


SCRATCH_PREFIX = "rnnbench-worker-"


def scratch_dir() -> tempfile.TemporaryDirectory:
    """A folder for a child's case and document, named after this process so a later run can tell it is stale."""
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def remove_stale_scratch() -> list[Path]:
    """Remove the scratch folders of managers that died without removing them (SIGKILL); those removed."""
    import psutil

    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        owner = folder.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
