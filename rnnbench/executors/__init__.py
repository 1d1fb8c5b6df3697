"""Executors: where the cases of a run execute, and how their outcomes come back to the manager.

An executor takes the cases still to run and yields a ``Finished`` for each
as it ends, in any order; the manager (``rnnbench.runner``) turns every one
into a record with the same ``build_record``, validation and writer, so an
executor decides only *where* a case runs, never how it is measured or
recorded. ``local`` runs one case after another on this machine; ``ray``
sends each case to a Ray cluster as one task (``pip install "rnnbench[ray]"``),
one case at a time per node unless the run shares nodes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from rnnbench.case import Case
from rnnbench.errors import UsageError
from rnnbench.manager import WorkerOutcome

EXECUTORS = ("local", "ray")
RAY_INSTALL_HINT = 'pip install "rnnbench[ray]"'


@dataclass(frozen=True)
class Finished:
    """One case that ended, with what the manager needs to record it."""

    case: Case
    started_at: str  # ISO time the worker started
    outcome: WorkerOutcome
    environment: dict[str, Any] | None  # of the machine that ran it; None: the manager's own machine
    shared_node: bool = False  # other cases may have run beside it on its machine (--ray-share-nodes)


Outcomes = Generator[Finished, None, None]  # a generator, so the manager can close() it to stop the cases


class Executor(Protocol):
    """Runs cases somewhere and reports each one as it ends; a context manager for its connection."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None: ...

    def devices(self, backend: str) -> list[str]:
        """The devices ``backend`` can run on where this executor runs cases."""
        ...

    def check(self, cases: Sequence[Case]) -> None:
        """Raise UsageError for a case that could never run here (before the run folder is made)."""
        ...

    def run(self, cases: Sequence[Case], timeout_s: float, started: Callable[[Case], None]) -> Outcomes:
        """Run ``cases`` (each killed after ``timeout_s``); call ``started`` as each begins; yield each as it ends.

        Closing the iterator early (Ctrl-C in the manager) stops every case still running.
        """
        ...


def make_executor(name: str, ray_address: str | None, run_id: str, share_nodes: bool = False) -> Executor:
    """The executor called ``name``; fails at once, before any run folder exists, when Ray is missing."""
    if name == "local":
        from rnnbench.executors.local import LocalExecutor

        return LocalExecutor()
    if name != "ray":
        raise UsageError(f"executor={name!r} is not valid. Accepted: {', '.join(EXECUTORS)}")
    if importlib.util.find_spec("ray") is None:
        raise UsageError(f"executor 'ray' needs Ray, which is not installed. Accepted: --executor local, "
                         f"or install Ray with: {RAY_INSTALL_HINT}")
    from rnnbench.executors.ray_cluster import RayExecutor

    return RayExecutor(ray_address, run_id, share_nodes)
