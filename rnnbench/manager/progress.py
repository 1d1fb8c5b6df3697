"""Progress of a run: a live rich display on a terminal, plain lines elsewhere, or nothing."""

from __future__ import annotations

from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rnnbench.case import Case
from rnnbench.printable import printable


class Reporter(Protocol):
    def begin(self, total: int, done: int) -> None: ...
    def start(self, case: Case) -> None: ...
    def finish(self, case: Case, record: dict[str, Any]) -> None: ...
    def end(self) -> None: ...


def _label(case: Case) -> str:
    return printable(f"{case.backend} {case.task} {case.cell} {case.device} {case.mode}", one_line=True)


def _error(record: dict[str, Any]) -> str:
    """The record's error on one line, its control characters escaped: a plugin wrote it, not rnnbench."""
    return printable(record.get("error"), one_line=True)


class Quiet:
    def begin(self, total: int, done: int) -> None: ...
    def start(self, case: Case) -> None: ...
    def finish(self, case: Case, record: dict[str, Any]) -> None: ...
    def end(self) -> None: ...


class PlainLines:
    """One line per finished case: for logs and CI, where a live display would be noise."""

    def __init__(self, console: Console) -> None:
        self.console, self.total, self.done = console, 0, 0

    def begin(self, total: int, done: int) -> None:
        self.total, self.done = total, done
        self.console.print(f"{total - done} cases to run ({done} already finished)")

    def start(self, case: Case) -> None: ...

    def finish(self, case: Case, record: dict[str, Any]) -> None:
        self.done += 1
        error = f": {_error(record)}" if record.get("error") else ""
        self.console.print(f"[{self.done}/{self.total}] {_label(case)}: {record['status']} "
                           f"({record['duration_s']:.1f} s){error}", markup=False)

    def end(self) -> None: ...


class LiveDisplay:
    """Cases done of total, the current case and the time left, redrawn in place."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console)
        self.task_id = self.progress.add_task("starting", start=False)

    def begin(self, total: int, done: int) -> None:
        self.progress.update(self.task_id, total=total, completed=done)
        self.progress.start_task(self.task_id)
        self.progress.start()

    def start(self, case: Case) -> None:
        self.progress.update(self.task_id, description=_label(case))

    def finish(self, case: Case, record: dict[str, Any]) -> None:
        if record["status"] != "ok":
            self.progress.console.print(f"{_label(case)}: {record['status']}: {_error(record)}", markup=False)
        self.progress.advance(self.task_id)

    def end(self) -> None:
        self.progress.stop()


def reporter(console: Console, quiet: bool) -> Reporter:
    if quiet:
        return Quiet()
    return LiveDisplay(console) if console.is_terminal else PlainLines(console)
