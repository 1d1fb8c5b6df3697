"""The local executor: the cases one after another, each in a fresh worker process on this machine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from rnnbench.manager.case import Case
from rnnbench.manager.executors.base import Finished, Outcomes
from rnnbench.manager.probe import devices_in_subprocess
from rnnbench.manager.process import now_iso, run_worker, scratch_dir


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
            for case in cases:
                started(case)
                started_at = now_iso()
                # run_worker kills its worker on Ctrl-C, so closing this iterator leaves nothing running.
                yield Finished(case, started_at, run_worker(case, timeout_s, Path(scratch)), None)
