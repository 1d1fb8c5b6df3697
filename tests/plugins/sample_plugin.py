"""A valid third-party plugin: one task, one backend whose framework is missing."""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backend import Backend
from rnnbench.task import Task


class SampleTask(Task):
    name = "sample_task"
    description = "A task registered by a test plugin"


class MissingFrameworkBackend(Backend):
    name = "missing"
    description = "Needs a module that is never installed"
    requires = ("rnnbench_no_such_framework",)
    install_hint = 'pip install "rnnbench-missing"'

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        raise AssertionError("never built: the backend is unavailable")


@hookimpl
def rnnbench_register_tasks() -> list[type[Task]]:
    return [SampleTask]


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [MissingFrameworkBackend]
