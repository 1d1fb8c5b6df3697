"""The local executor: the worker processes one after another on this machine.

The manager hands over the cases already grouped into processes and in
order (``rnnbench.manager.schedule``); this runs each group in one fresh
worker, and a case whose process ended before it began (an earlier case
crashed it) runs again alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from rnnbench.case import Case
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

    def run(self, processes: Sequence[Sequence[Case]], timeout_s: float, started: Callable[[Case], None]
            ) -> Outcomes:
        with scratch_dir() as scratch:
            for group in processes:
                started_at = now_iso()
                started(group[0])
                # run_workers kills its worker on Ctrl-C, so closing this iterator leaves nothing running.
                outcomes = run_workers(list(group), timeout_s, Path(scratch))
                for case, outcome in zip(group, outcomes, strict=True):
                    if case is not group[0]:
                        started(case)
                    if outcome is None:  # an earlier case ended the process before this one began: alone, now
                        started_at, outcome = now_iso(), run_worker(case, timeout_s, Path(scratch))
                    yield Finished(case, started_at, outcome, None)
