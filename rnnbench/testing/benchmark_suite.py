"""The micro-benchmarks as pytest tests for the backends named by ``--rnnbench-backend``.

Every cell at the small and the medium shape (medium marked ``slow``), the
forward pass and the training step: rnnbench/testing/micro.py says what is
timed and what goes to ``extra_info``. Run them with ``--benchmark-only``;
``-m "not slow"`` keeps the small ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rnnbench.backend import Backend
from rnnbench.plugins.registry import Registry
from rnnbench.testing import registry_of, selection_of
from rnnbench.testing.micro import MicroCase, micro_params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "micro_case" in metafunc.fixturenames:
        selection = selection_of(metafunc.config)
        metafunc.parametrize("micro_case", micro_params(registry_of(metafunc.config), selection.backends,
                                                        selection.device))


def test_forward(rnnbench_micro: Callable[[Backend, MicroCase, str], None], rnnbench_registry: Registry,
                 micro_case: dict[str, Any]) -> None:
    case = MicroCase.from_dict(micro_case)
    rnnbench_micro(rnnbench_registry.available_backend(case.backend), case, "forward")


def test_train_step(rnnbench_micro: Callable[[Backend, MicroCase, str], None], rnnbench_registry: Registry,
                    micro_case: dict[str, Any]) -> None:
    case = MicroCase.from_dict(micro_case)
    rnnbench_micro(rnnbench_registry.available_backend(case.backend), case, "train_step")
