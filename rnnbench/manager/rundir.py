"""The run folder a run writes: created under a unique id, locked while written, described by ``run.json``.

A run id is the start time to the second, the host and a random suffix, so
two runs started in the same second, here or on another machine, never
share one; the folder is created exclusively and never reused. One process
at a time writes a run folder: ``lock`` holds an exclusive ``flock`` on its
``.lock`` file for as long as a run or a resume writes it, and a second
writer gets one line naming the folder instead of interleaving records.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from rnnbench.errors import UsageError
from rnnbench.manager.machine import collect
from rnnbench.manager.options import RunOptions
from rnnbench.manager.process import now_iso
from rnnbench.manager.tuned_settings import TUNED_FILE
from rnnbench.plugins.registry import Registry
from rnnbench.results.schema import ResultsError
from rnnbench.results.store import (
    ENVIRONMENT_FILE,
    RUN_FILE,
    read_environment,
    safe_filename,
    write_environment,
    write_json_file,
)

LOCK_FILE = ".lock"
RUN_KIND, TUNE_KIND = "run", "tune"  # which command wrote a folder: run.json's "kind" (older files: tuned.json)
RUN_FILE_VERSION = 2  # 2: run.json carries the run id; 1 (no version key): the folder name is the id


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-<host>-<4 hex>``: readable, sortable by time, unique without coordination."""
    host = safe_filename(socket.gethostname(), "host")
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{host}-{secrets.token_hex(2)}"


def create(results_dir: Path, options: RunOptions, run_id: str, kind: str = RUN_KIND) -> tuple[Path, str]:
    """A new run folder ``results_dir/run_id`` (made exclusively, ``-2``, ``-3``... appended when taken)
    with its ``run.json``, which names the command that wrote it (``kind``); (folder, the id it got)."""
    if results_dir.exists() and not results_dir.is_dir():
        raise UsageError(f"--results-dir {results_dir} is a file. Accepted: a folder (it is created if missing)")
    for attempt in range(1, 101):
        taken = run_id if attempt == 1 else f"{run_id}-{attempt}"
        try:
            results_dir.mkdir(parents=True, exist_ok=True)
            (results_dir / taken).mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot create a run folder in {results_dir}: {exc.strerror}. "
                             f"Accepted: a writable folder (--results-dir)") from None
        run_dir = results_dir / taken
        write_json_file(run_dir / RUN_FILE, {"version": RUN_FILE_VERSION, "run_id": taken, "kind": kind,
                                             "options": options.to_dict(), "created": now_iso()})
        return run_dir, taken
    raise UsageError(f"no free run folder for {run_id} in {results_dir}. Accepted: a folder rnnbench can write")


def read_run_file(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of ``run_dir``; UsageError, in one line, when it is missing or not a run file."""
    path = run_dir / RUN_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{run_dir} is not a run folder. Accepted: a folder written by rnnbench run "
                         f"({RUN_FILE})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} cannot be read as a run file ({exc}). Accepted: the {RUN_FILE} rnnbench run "
                         f"wrote") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("options"), dict):
        raise UsageError(f"{path} holds no run options. Accepted: the {RUN_FILE} rnnbench run wrote")
    return saved


def require_run_folder(run_dir: Path, saved: dict[str, Any]) -> None:
    """UsageError unless ``rnnbench run`` wrote ``run_dir``: a tune folder holds a search, not a matrix, and a
    resume would run a plain matrix into it and count the tune's default record as a finished case."""
    kind = saved.get("kind", TUNE_KIND if (run_dir / TUNED_FILE).exists() else RUN_KIND)
    if kind != RUN_KIND:
        raise UsageError(f"{run_dir} was written by rnnbench {kind}, not rnnbench run. Accepted for --resume: a "
                         f"run folder; a {kind} is started anew (its results stay readable by report)")


def run_id_of(run_dir: Path, saved: dict[str, Any]) -> str:
    """The id the run was created with; the folder's own name for run files older than version 2."""
    run_id = saved.get("run_id")
    return run_id if isinstance(run_id, str) and run_id else Path(os.path.abspath(run_dir)).name


def ensure_environment(run_dir: Path, threads: int, registry: Registry) -> str | None:
    """``environment.json``, measured now when the folder has none (a run stopped before writing it) or
    one that cannot be read, with what plugins add (``rnnbench_update_machine_info``); a line saying so for
    the latter and for each plugin whose addition failed, else None."""
    path = run_dir / ENVIRONMENT_FILE
    note = None
    if path.is_file():
        try:
            read_environment(run_dir)
            return None
        except ResultsError as exc:
            note = f"{exc}; measured this machine again"
    info = collect(threads)
    faults = registry.update_machine_info(info)
    write_environment(run_dir, info)
    return "\n".join([*([note] if note else []), *faults]) or None


@contextlib.contextmanager
def lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for this process alone; UsageError when another process holds it."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only mount, a full disk, a folder where the lock file goes
        raise UsageError(f"cannot lock {run_dir} to write it: {exc.strerror} ({run_dir / LOCK_FILE}). Accepted: "
                         "a run folder rnnbench can write; copy it somewhere writable to resume it") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise UsageError(f"{run_dir} is being written by {holder}. Accepted: one run or resume of a run "
                             f"folder at a time; wait for it, or resume when it has stopped") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"rnnbench pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

