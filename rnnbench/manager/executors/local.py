"""The local executor: the cases one after another, in fresh worker processes on this machine.

A memory case and the throughput case of the same configuration share one
process, memory first (``groups``): memory is measured from the process's
first step, as it must be, and throughput then times the same model
without paying again for an interpreter, the framework's import, the data
and the build (a third of the default run's wall time went there). The
throughput record's first step is the memory pass's first call, so compile
time stays visible. Every other case has a process of its own, and a case
whose process partner never started is run again alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from rnnbench.manager.case import Case, Mode
from rnnbench.manager.executors.base import Finished, Outcomes
from rnnbench.manager.probe import devices_in_subprocess
from rnnbench.manager.process import now_iso, run_worker, run_workers, scratch_dir


class LocalExecutor:
    """One case at a time, so cases never compete for this machine's cores or memory."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        return None

    def devices(self, backend: str) -> list[str]:
        return devices_in_subprocess(backend)

    def check(self, cases: Sequence[Case]) -> None:
        return None  # any case the plan made can run here

    def run(self, cases: Sequence[Case], timeout_s: float, started: Callable[[Case], None]) -> Outcomes:
        with scratch_dir() as scratch:
            for group in groups(cases):
                started_at = now_iso()
                started(group[0])
                # run_workers kills its worker on Ctrl-C, so closing this iterator leaves nothing running.
                outcomes = run_workers(group, timeout_s, Path(scratch))
                for case, outcome in zip(group, outcomes, strict=True):
                    if case is not group[0]:
                        started(case)
                    if outcome is None:  # its partner ended the process before it began: alone, now
                        started_at, outcome = now_iso(), run_worker(case, timeout_s, Path(scratch))
                    yield Finished(case, started_at, outcome, None)


TWINS: dict[str, Mode] = {"memory": "throughput", "throughput": "memory"}


def groups(cases: Sequence[Case]) -> list[list[Case]]:
    """The cases in order, a memory or throughput case joined by its twin of the same configuration, memory first."""
    pending = list(cases)
    grouped: list[list[Case]] = []
    while pending:
        case = pending.pop(0)
        twin = dataclasses.replace(case, mode=TWINS[case.mode]) if case.mode in TWINS else None
        if twin is not None and twin in pending:
            pending.remove(twin)
            grouped.append(sorted([case, twin], key=lambda c: c.mode != "memory"))
        else:
            grouped.append([case])
    return grouped
