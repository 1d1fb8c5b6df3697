"""The plugin module named by the entry point: hooks only, classes elsewhere."""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backend import Backend
from rnnbench_example.backend import Numpy64Backend


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [Numpy64Backend]
