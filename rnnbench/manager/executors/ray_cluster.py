"""The Ray executor: every case one Ray task on a cluster, each outcome recorded as soon as it comes back.

A task claims the case's CPUs (and a GPU for a GPU case) from Ray, waits
until it has its node to itself (unless the run shares nodes), then runs
the same ``run_worker`` as the local executor: a fresh worker process with
the per-case timeout (``ray_node.run_case``). The manager waits on all tasks
with ``ray.wait`` and yields each as it finishes. Its own guard cancels a
task still running ``GUARD_S`` past the timeout, counted from when the task
reported its worker started (a node that stopped answering), and a task that
Ray itself loses (its node died) is recorded as lost on machine
``LOST_MACHINE``, which ``--resume`` runs again on the nodes left; either
way the run goes on (the actor that hears of each start lives on the manager's node, never on a case node that may die).
Closing the iterator (Ctrl-C) cancels every task still queued or running and
keeps what finished.

Ray is imported only here, and only when a run uses this executor.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from rnnbench.case import Case
from rnnbench.errors import UsageError
from rnnbench.manager.executors.base import Finished, Outcomes
from rnnbench.manager.executors.ray_node import StartBook, run_case
from rnnbench.manager.probe import devices_in_subprocess
from rnnbench.manager.process import TAIL_CHARS, WorkerOutcome

WAIT_S = 1.0  # the manager's poll: finished tasks, newly started cases, overdue ones
GUARD_S = 60.0  # beyond the case timeout before the manager gives up on a task itself
REACH_TIMEOUT_S = 5.0  # to open a TCP connection to the cluster's address
CANCEL_GRACE_S = 10.0  # after Ctrl-C, how long running tasks get to kill their workers before being killed
LOST_MACHINE = "unknown (Ray task lost)"  # the machine of a case whose task never reported back


class RayExecutor:
    """Cases as Ray tasks on the cluster at ``address`` (None: RAY_ADDRESS, a local `ray start`, or a new one)."""

    def __init__(self, address: str | None, run_id: str, share_nodes: bool = False) -> None:
        self.address, self.run_id, self.share_nodes = address, run_id, share_nodes
        self._ray: Any = None
        self._owns_connection = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._owns_connection:
            self._ray.shutdown()

    def _connect(self) -> Any:
        """Ray, connected: to the cluster this process already joined, else to ``address``."""
        if self._ray is None:
            import ray

            if not ray.is_initialized():
                check_reachable(_target(self.address), given=self.address is not None)
                try:
                    with _signals_kept():
                        ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
                except ConnectionError as exc:
                    where = self.address or "RAY_ADDRESS or the last `ray start` here"
                    raise UsageError(f"cannot reach the Ray cluster at {where}: {exc}. "
                                     f"Accepted: the address `ray start --head` printed, with the cluster's token "
                                     f"(~/.ray/auth_token, RAY_AUTH_MODE=token)") from None
                self._owns_connection = True
            self._ray = ray
        return self._ray

    def devices(self, backend: str) -> list[str]:
        """The backend's devices as seen by a task on a GPU node (or any node when the cluster has no GPU)."""
        ray = self._connect()
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        probe = ray.remote(devices_in_subprocess).options(num_gpus=gpus, max_retries=0)
        return list(ray.get(probe.remote(backend)))

    def check(self, cases: Sequence[Case]) -> None:
        ray = self._connect()
        check_fits(cases, [node["Resources"] for node in ray.nodes() if node["Alive"]])

    def run(self, processes: Sequence[Sequence[Case]], timeout_s: float, started: Callable[[Case], None]
            ) -> Outcomes:
        cases = [case for process in processes for case in process]  # one task, and so one process, per case
        ray = self._connect()
        book = start_book(ray)
        task = ray.remote(run_case)
        pending = {task.options(**resources(case), max_retries=0).remote(case, timeout_s, self.run_id, book,
                                                                         self.share_nodes): case
                   for case in cases}
        clock = _Clock(pending, started)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_S)
                clock.note(ray.get(book.since.remote(len(clock.began))))
                for ref in ready:
                    yield _collect(ray, ref, pending.pop(ref), clock, self.share_nodes)
                # A case queued for its node has not reported its start, so its wait never makes it overdue.
                for ref in clock.overdue(timeout_s + GUARD_S):
                    ray.cancel(ref, force=True)
                    yield _overdue(pending.pop(ref), clock.seconds(ref), timeout_s, self.share_nodes)
        finally:
            _cancel(ray, list(pending))


def start_book(ray: Any) -> Any:
    """The run's StartBook actor, pinned to the manager's own node (under Ray Client: the client server's).

    Left to Ray, an actor that needs no CPU lands on any node, a case node too; when that node died, the
    manager's next ``book.since`` raised ActorUnavailableError and ended the run with a traceback, though the
    other nodes were still running their cases. The manager's node lives as long as the manager's connection.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(num_cpus=0)(StartBook).options(scheduling_strategy=here).remote()


def _target(address: str | None) -> str | None:
    """The HOST:PORT ``ray.init(address)`` would connect to (RAY_ADDRESS, else the last `ray start` on this
    machine, when ``address`` is None); None when it would start a cluster of its own or use Ray Client."""
    if address is not None and "://" in address:
        return None
    try:  # Ray's private resolver, used only for this early check; without it, the address as given
        from ray._private.services import canonicalize_bootstrap_address

        return canonicalize_bootstrap_address(address)  # type: ignore[arg-type]  # None: RAY_ADDRESS or the last head
    except (ImportError, ValueError, ConnectionError):
        return address


def check_reachable(address: str | None, given: bool = True) -> None:
    """Fail at once for a HOST:PORT where nothing listens (Ray itself retries for minutes)."""
    if not address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=REACH_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        source = "" if given else " (from RAY_ADDRESS or the last `ray start` on this machine; `ray stop` forgets it)"
        raise UsageError(f"ray_address={address!r}{source}: nothing answers there ({exc}). "
                         f"Accepted: the HOST:PORT that `ray start --head` printed") from None


def resources(case: Case) -> dict[str, int]:
    """What a case's task asks Ray for: its threads as CPUs, and one GPU unless it runs on the CPU."""
    return {"num_cpus": case.threads, "num_gpus": 0 if case.device == "cpu" else 1}


def check_fits(cases: Sequence[Case], nodes: list[dict[str, float]]) -> None:
    """Refuse a case no node of the cluster can ever take: Ray would keep it waiting forever."""
    for case in cases:
        need = {"CPU": case.threads, "GPU": resources(case)["num_gpus"]}
        if not any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
            largest = max(((n.get("CPU", 0), n.get("GPU", 0)) for n in nodes), default=(0, 0))
            raise UsageError(f"case {case.case_id} needs {need['CPU']} CPUs and {need['GPU']} GPU on one node. "
                             f"Accepted: what one node of the Ray cluster has (largest: {largest[0]:g} CPUs, "
                             f"{largest[1]:g} GPUs); lower --threads or add a node")


class _Clock:
    """When the manager first saw each case's worker start, on the manager's clock (nodes' clocks differ)."""

    def __init__(self, pending: dict[Any, Case], started: Callable[[Case], None]) -> None:
        self.refs = {case.case_id: ref for ref, case in pending.items()}
        self.pending, self.started = pending, started
        self.began: dict[Any, float] = {}

    def note(self, case_ids: list[str]) -> None:
        for case_id in case_ids:
            ref = self.refs[case_id]
            self.began[ref] = time.monotonic()
            if ref in self.pending:
                self.started(self.pending[ref])

    def seconds(self, ref: Any) -> float:
        return time.monotonic() - self.began[ref] if ref in self.began else 0.0

    def overdue(self, limit_s: float) -> list[Any]:
        return [ref for ref in self.pending if ref in self.began and self.seconds(ref) > limit_s]


def _collect(ray: Any, ref: Any, case: Case, clock: _Clock, shared: bool) -> Finished:
    """The task's result; a task Ray could not run to the end (its node died) becomes a failed outcome."""
    try:
        started_at, outcome, env = ray.get(ref)
    except ray.exceptions.RayError as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]  # Ray's advice text can run to 500
        error = f"the Ray task was lost: {type(exc).__name__}: {first_line}; --resume runs the case again"
        seconds = clock.seconds(ref)
        outcome = WorkerOutcome(document={"status": "lost", "error": error}, returncode=None, timed_out=False,
                                seconds=seconds, output_tail=str(exc)[-TAIL_CHARS:], command=[])
        return Finished(case, _seconds_ago(seconds), outcome, {"machine": LOST_MACHINE}, shared)
    return Finished(case, started_at, outcome, env, shared)


def _overdue(case: Case, seconds: float, timeout_s: float, shared: bool) -> Finished:
    tail = (f"the Ray task was still running {seconds:.0f} s after its worker started, past the "
            f"{timeout_s:g} s timeout and {GUARD_S:g} s of grace; the manager cancelled it")
    outcome = WorkerOutcome(document=None, returncode=None, timed_out=True, seconds=seconds, output_tail=tail,
                            command=[])
    return Finished(case, _seconds_ago(seconds), outcome, {"machine": LOST_MACHINE}, shared)


def _seconds_ago(seconds: float) -> str:
    """The ISO time ``seconds`` ago: when the manager saw the worker of a task that never reported back start."""
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _cancel(ray: Any, refs: list[Any]) -> None:
    """Stop tasks: queued ones never start; running ones get KeyboardInterrupt, so run_worker kills its worker."""
    if not refs:
        return
    for ref in refs:
        ray.cancel(ref)
    _, stuck = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)
    for ref in stuck:
        ray.cancel(ref, force=True)


@contextlib.contextmanager
def _signals_kept() -> Iterator[None]:
    """The handlers of SIGINT, SIGTERM and SIGHUP as they were before the block, after it.

    ``ray.init`` installs its core worker's failure handler (a stack dump, then death by the signal) for
    SIGTERM; rnnbench's own handler ends a run as Ctrl-C does: cases stopped, records kept, the resume line.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            if handler is not None:  # None: set outside Python, which cannot be put back
                signal.signal(sig, handler)
