"""The interface every task plugin implements.

A task supplies a workload: its data, the ModelSpec and OptimizerSpec for
each cell, batches, its metric and budgets. Like a backend it is cheap to
construct and loads nothing until asked.
"""

from __future__ import annotations

from abc import ABC
from typing import ClassVar

from rnnbench.backend import Availability, modules_availability


class Task(ABC):
    """A workload, registered by a plugin through its class."""

    name: ClassVar[str]  # the task's name on the command line, e.g. "char_rnn"
    description: ClassVar[str] = ""  # one line for `rnnbench plugins`
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules the task needs
    install_hint: ClassVar[str] = ""  # the command that makes it available

    def available(self) -> Availability:
        """Ok when every required module can be found; nothing is imported."""
        return modules_availability(self.requires, self.install_hint)
