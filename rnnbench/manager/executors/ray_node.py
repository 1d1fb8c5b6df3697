"""What runs on a Ray node for one case: the node to itself, the node's environment, the same worker as locally.

A local run measures one case at a time; Ray would start as many cases on
a node as it has CPUs, and cases running together share memory bandwidth
and caches, so their timings (and the node's matmul peak) would not match a
local run's. So by default each case's task first waits for the node to
itself: an exclusive ``flock`` on one lock file per user and node (released
by the kernel even when the task is killed), held around the environment
and the worker. ``--ray-share-nodes`` takes a shared lock instead: sharing
cases run side by side (the sweep ends sooner, the timings are not clean),
and never beside a case of a run that wants the node alone.

Ray counts CPUs but does not hand out particular ones, and a worker pins
itself to the first ``threads`` CPUs it may use; two cases sharing a node
would share the same cores. So each case's task also claims ``threads`` CPUs
of its node through lock files and pins itself to them, and the worker it
starts inherits that affinity. The node's environment, with its matmul
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

from rnnbench.case import Case
from rnnbench.errors import UsageError
from rnnbench.host import usable_cpus
from rnnbench.manager import machine as environment
from rnnbench.manager.process import WorkerOutcome, now_iso, run_worker, scratch_dir
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import safe_filename

CLAIM_POLL_S = 0.2  # how often a case waiting for free CPUs looks again


class StartBook:
    """A Ray actor: the ids of the cases whose workers have started, in order (for the manager's clock)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, case_id: str) -> None:
        self.started.append(case_id)

    def since(self, index: int) -> list[str]:
        return self.started[index:]


def run_case(case: Case, timeout_s: float, run_id: str, book: Any,
             share_node: bool) -> tuple[str, WorkerOutcome, dict[str, Any]]:
    """The body of a case's Ray task: the worker's outcome, when it started, and this node's environment."""
    node_cpus = usable_cpus()
    # The wait for the node comes before book.start and run_worker: neither the worker's timeout nor the
    # manager's guard (counted from book.start) includes the time a case spent queued behind others.
    with node_turn(share_node), own_cpus(case.threads):
        env = node_environment(run_id, case.threads, node_cpus)
        book.start.remote(case.case_id)
        started_at = now_iso()
        with scratch_dir() as scratch:
            outcome = run_worker(case, timeout_s, Path(scratch))
    return started_at, outcome, env


def _lock_dir() -> Path:
    return Path(tempfile.gettempdir())


@contextmanager
def node_turn(share: bool) -> Iterator[None]:
    """Hold this node for the block: alone (an exclusive lock) or beside other sharing cases (a shared one)."""
    with open(_lock_dir() / f"rnnbench-{os.getuid()}-node.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if share else fcntl.LOCK_EX)
        yield


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
        # Measured pinned to this case's CPUs while it has the node to itself (unless the run shares nodes, when
        # other cases may run beside it); the node offers node_cpus.
        env = environment.collect(threads) | {"usable_cpus": node_cpus}
        Registry().update_machine_info(env)  # what plugins add; a failing plugin's addition is left out
        path.write_text(json.dumps(env))
        _prune_environments(keep=path)
        return env


ENVIRONMENT_KEEP_S = 7 * 24 * 3600.0  # a run may resume days later; older node environments are litter


def _prune_environments(keep: Path) -> None:
    """Remove this user's node-environment files of runs last touched more than a week ago."""
    cutoff = time.time() - ENVIRONMENT_KEEP_S
    for old in _lock_dir().glob(f"rnnbench-{os.getuid()}-env-*"):
        try:
            if old.with_suffix(".json") != keep and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:  # another node's case removed it first, or it is not ours to remove
            continue
