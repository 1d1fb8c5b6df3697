"""What runs on a Ray node for one case: its own CPUs, the node's environment, the same worker as locally.

Ray counts CPUs but does not hand out particular ones, and a worker pins
itself to the first ``threads`` CPUs it may use; two cases running at once
on one node would share the same cores. So each case's task first claims
``threads`` CPUs of its node through lock files (``flock``: released by the
kernel even when the task is killed) and pins itself to them, and the worker
it starts inherits that affinity. The node's environment, with its matmul
peak, is measured once per run and node by the first case to get there and
read from a file by the others.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rnnbench import environment
from rnnbench.case import Case
from rnnbench.errors import UsageError
from rnnbench.manager import WorkerOutcome, now_iso, run_worker, scratch_dir
from rnnbench.parity import usable_cpus
from rnnbench.results import safe_filename

CLAIM_POLL_S = 0.2  # how often a case waiting for free CPUs looks again


class StartBook:
    """A Ray actor: the ids of the cases whose workers have started, in order (for the manager's clock)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, case_id: str) -> None:
        self.started.append(case_id)

    def since(self, index: int) -> list[str]:
        return self.started[index:]


def run_case(case: Case, timeout_s: float, run_id: str, book: Any) -> tuple[str, WorkerOutcome, dict[str, Any]]:
    """The body of a case's Ray task: the worker's outcome, when it started, and this node's environment."""
    node_cpus = usable_cpus()
    with own_cpus(case.threads):
        env = node_environment(run_id, case.threads, node_cpus)
        book.start.remote(case.case_id)
        started_at = now_iso()
        with scratch_dir() as scratch:
            outcome = run_worker(case, timeout_s, Path(scratch))
    return started_at, outcome, env


def _lock_dir() -> Path:
    return Path(tempfile.gettempdir())


@contextmanager
def own_cpus(threads: int) -> Iterator[list[int]]:
    """Pin this process, for the block, to ``threads`` CPUs that no other case on this node holds."""
    original = os.sched_getaffinity(0)
    if threads > len(original):
        raise UsageError(f"threads={threads} is not valid on this node. Accepted: 1 to {len(original)}")
    with ExitStack() as held:
        cpus = _claim(threads, held)
        os.sched_setaffinity(0, cpus)
        try:
            yield cpus
        finally:
            os.sched_setaffinity(0, original)  # this Ray worker process runs later tasks too


def _claim(threads: int, held: ExitStack) -> list[int]:
    """Wait until ``threads`` CPUs are free, lock them (the locks live as long as ``held``), return them."""
    while True:
        attempt = ExitStack()
        cpus: list[int] = []
        for cpu in usable_cpus():
            if len(cpus) == threads:
                break
            if _try_lock(attempt, _lock_dir() / f"rnnbench-{os.getuid()}-cpu{cpu}.lock"):
                cpus.append(cpu)
        if len(cpus) == threads:
            held.enter_context(attempt)
            return cpus
        attempt.close()
        time.sleep(CLAIM_POLL_S)


def _try_lock(stack: ExitStack, path: Path) -> bool:
    handle = stack.enter_context(open(path, "a"))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def node_environment(run_id: str, threads: int, node_cpus: list[int]) -> dict[str, Any]:
    """This node's environment for the run: measured by the first case here, read from a file by the rest."""
    path = _lock_dir() / f"rnnbench-{os.getuid()}-env-{safe_filename(run_id)}-t{threads}.json"
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here while the first one measures
        if path.is_file():
            return json.loads(path.read_text())
        # Measured pinned to this case's CPUs, so no other case disturbs the peak; the node offers node_cpus.
        env = environment.collect(threads) | {"usable_cpus": node_cpus}
        path.write_text(json.dumps(env))
        return env
