"""The built-in tasks on the smoke profile, shared by the task, training and mode tests."""

from __future__ import annotations

from rnnbench.plugins.registry import Registry
from rnnbench.task import Task

TASK_NAMES = ("airline", "char_rnn", "forecasting", "imdb")


def smoke(registry: Registry, name: str, data_dir: str | None, **options: object) -> Task:
    return registry.task(name).with_options(profile="smoke", data_dir=data_dir, **options)
