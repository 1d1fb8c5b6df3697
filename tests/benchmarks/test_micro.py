"""Micro-benchmarks of every built-in backend x cell: the forward pass and the training step.

Run with ``pytest tests/benchmarks/test_micro.py --benchmark-only``; ``-m "not slow"``
keeps the small shape (the CI pass), ``--rnnbench-rounds N`` and
``--rnnbench-warmup N`` override the rounds. What is timed and what goes to
``extra_info`` (kernel path, FLOPs, achieved GFLOP/s) is
rnnbench/testing/micro.py, the same code ``pytest --rnnbench-backend NAME``
runs for a third-party backend. Ids read ``torch-lstm-H512-B64-T50``.

The list also holds ``sleepy`` (tests/plugins/sleepy.py) at the small LSTM
shape: the NumPy reference, which sleeps per call when
RNNBENCH_TEST_SLEEP_S is set, so that a saved run always has a baseline for
the deliberately slowed backend that must fail ``tox -e bench``'s comparison.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
from paths import PLUGIN_DIR

from rnnbench.backend import Backend
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.testing.micro import SHAPES, MicroCase, micro_params

SLEEPY_PLUGIN = PLUGIN_DIR / "sleepy.py"


def bench_registry() -> Registry:
    """The built-in backends, plus the sleepy test backend registered from its file."""
    pm = make_plugin_manager(load_entry_points=False)
    spec = importlib.util.spec_from_file_location("rnnbench_tests_sleepy", SLEEPY_PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pm.register(module, name="tests/plugins/sleepy.py")
    return Registry(pm)


REGISTRY = bench_registry()
BUILT_IN = tuple(name for name in REGISTRY.backend_names() if name != "sleepy")
PARAMS = [*micro_params(REGISTRY, BUILT_IN),
          *micro_params(REGISTRY, ("sleepy",), cells=("lstm",), shapes=SHAPES[:1])]

Run = Callable[[Backend, MicroCase, str], None]


@pytest.mark.parametrize("micro_case", PARAMS)
def test_forward(rnnbench_micro: Run, micro_case: dict[str, Any]) -> None:
    case = MicroCase.from_dict(micro_case)
    rnnbench_micro(REGISTRY.available_backend(case.backend), case, "forward")


@pytest.mark.parametrize("micro_case", PARAMS)
def test_train_step(rnnbench_micro: Run, micro_case: dict[str, Any]) -> None:
    case = MicroCase.from_dict(micro_case)
    rnnbench_micro(REGISTRY.available_backend(case.backend), case, "train_step")
