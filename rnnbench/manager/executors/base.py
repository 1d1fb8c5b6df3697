"""What every executor is and yields: the ``Executor`` protocol and ``Finished`` (no executor imports another)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from rnnbench.case import Case
from rnnbench.manager.process import WorkerOutcome

EXECUTORS = ("local", "ray")


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

    def run(self, processes: Sequence[Sequence[Case]], timeout_s: float, started: Callable[[Case], None]
            ) -> Outcomes:
        """Run the cases (each killed after ``timeout_s``); call ``started`` as each begins; yield each as it ends.

        ``processes`` are the cases grouped into worker processes, in the order to run them
        (``rnnbench.manager.schedule``); an executor that gives every case a process of its own
        (Ray's one task per case) runs them in that order.

        Closing the iterator early (Ctrl-C in the manager) stops every case still running.
        """
        ...
