"""A backend's training step timed next to the loop a framework's own tutorial teaches, in the same run.

Shared by tests/benchmarks/test_{torch,tensorflow,jax}_vs_tutorial.py: the
workloads of issue 15's speed criterion, their seeded batch, the test
parameters and the interleaving. The workloads are every task of the
default run matrix (``RunOptions``: char_rnn, imdb, forecasting) at the
default profile (quick) for every cell, read from the task plugins: the
network from ``model_spec``, the batch size from the recipe, the sequence
length from ``seq_len``, the optimiser and its clipping from ``optimizer``;
nothing loads data. One kernel shape, the micro-benchmarks' medium dense
LSTM, is kept besides them.

pytest-benchmark times one loop in pedantic mode while its untimed ``setup``
runs and times the other before every round, so the two alternate step by
step and a shared machine's noise hits both alike. The acceptance criterion
is ``median(backend) / median(tutorial) <= 1.05`` for each backend's best
implementation; it is asserted only where RNNBENCH_MAX_TUTORIAL_RATIO sets
the bound, because a shared machine is too noisy to fail on by default.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from rnnbench.spec import CELLS, Cell, ModelSpec, OptimizerSpec
from rnnbench.task import synthetic_batch

if TYPE_CHECKING:
    from rnnbench.backend import Backend
    from rnnbench.task import Task

RATIO_ENV = "RNNBENCH_MAX_TUTORIAL_RATIO"
SLOW_TASKS = ("char_rnn",)  # seconds per step on 2 cores: marked slow, as the kernel shape is


@dataclass(frozen=True)
class Shape:
    """One benchmark workload: the network, its batch and the update both loops take."""

    spec: ModelSpec  # the network, the same function on both sides
    batch: int  # B
    steps: int  # T
    optimizer: OptimizerSpec  # the task's update rule and clipping, given to both loops
    slow: bool = False  # marked slow: deselect with -m "not slow"


def task_shape(task: Task, cell: Cell) -> Shape:
    """The training step of ``task`` (bound to its profile) for ``cell``, as a run measures it."""
    return Shape(task.model_spec(cell), task.recipe().batch_size, task.seq_len, task.optimizer(cell),
                 slow=task.name in SLOW_TASKS)


def _matrix_shapes() -> dict[str, Shape]:
    """``{task}-{cell}`` for every task of the default run matrix at its default profile, and every cell."""
    from rnnbench.manager.options import RunOptions
    from rnnbench.plugins import make_plugin_manager
    from rnnbench.plugins.registry import Registry

    defaults, registry = RunOptions(), Registry(make_plugin_manager(load_entry_points=False))
    shapes: dict[str, Shape] = {}
    for name in defaults.tasks:
        task = registry.task(name).with_options(profile=defaults.profile)
        shapes.update({f"{name}-{cell}": task_shape(task, cell) for cell in CELLS})
    return shapes


def _kernel_shape() -> Shape:
    """The micro-benchmarks' medium shape as an LSTM: dense input = hidden = 512, one value out (compute bound)."""
    from rnnbench.testing import micro

    medium = next(s for s in micro.SHAPES if s.label == "medium")
    spec = micro.MicroCase("tutorial", "lstm", medium).spec()
    return Shape(spec, medium.batch_size, medium.seq_len, micro.OPTIMIZER, slow=True)


SHAPES: dict[str, Shape] = {**_matrix_shapes(), "lstm512_dense": _kernel_shape()}
# The loss check's shapes, made tiny: one per cell, between them every head, input kind and depth (each
# case compiles a step on both sides, seconds apiece, and runs in every `pytest`).
LOSS_CHECK_SHAPES = ("char_rnn-rnn", "forecasting-lstm", "imdb-gru")


def tiny(shape: Shape) -> Shape:
    """``shape`` a few units wide, for the loss check: same cell, head, depth, input kind and optimiser."""
    s = shape.spec
    classes = 11  # the tiny vocabulary, and the lm head's classes
    spec = dataclasses.replace(s, hidden_size=8, vocab_size=classes if s.embedded else None,
                               embedding_dim=4 if s.embedded else None, input_features=None if s.embedded else 3,
                               output_size=classes if s.head == "lm" else min(s.output_size, 6))
    return dataclasses.replace(shape, spec=spec, batch=4, steps=6)


def batch(shape: Shape, index_dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
    """The seeded batch both loops train on, in ModelSpec's layout; token ids and lm targets as ``index_dtype``.

    x: ids (B, T) or features (B, T, F). y: class ids (B, T) for lm, 0/1 (B, 1)
    for classify, values (B, O) for regress.
    """
    spec = shape.spec
    x, y = synthetic_batch(spec, shape.batch, shape.steps, np.random.default_rng(0))
    if spec.embedded:
        x = x.astype(index_dtype)  # (B, T)
    if spec.head == "lm":
        y = y.astype(index_dtype)  # (B, T)
    return x, y


def cases(backend: Backend, devices: Sequence[str], slow_implementations: tuple[str, ...] = ()) -> list[Any]:
    """pytest params (shape name, implementation, device): per device and shape, every implementation
    of ``backend`` that runs there; ids read ``imdb-gru-xla-cpu``. Slow shapes, and the implementations
    named in ``slow_implementations`` (minutes of compiling), are marked slow."""
    params = []
    for device in devices:
        for name, shape in SHAPES.items():
            for implementation in backend.implementations():
                if not implementation.runs_on(device):
                    continue
                slow = shape.slow or implementation.name in slow_implementations
                params.append(pytest.param(name, implementation.name, device, marks=[pytest.mark.slow] if slow else [],
                                           id=f"{name}-{implementation.name}-{device}"))
    return params


@dataclass(frozen=True)
class Interleaved:
    """Medians and minima of the two loops over the same rounds."""

    timed_median: float  # the loop pytest-benchmark timed
    timed_min: float
    other_median: float  # the loop timed in pedantic's setup
    other_min: float


def interleave(benchmark: Any, timed: Callable[[], None], other: Callable[[], None], *, rounds: int, warmup: int,
               barrier: Callable[[], None] = lambda: None) -> Interleaved | None:
    """pytest-benchmark times ``timed``; before every round (warm-up included) ``other`` runs and is timed.

    ``barrier`` (the device's synchronize) brackets the other loop, as the
    timed one must bracket itself. None when benchmarking is disabled.
    """
    other_seconds: list[float] = []

    def time_other() -> None:  # pytest-benchmark's untimed setup: runs before every round
        barrier()
        start = time.perf_counter()
        other()
        barrier()
        other_seconds.append(time.perf_counter() - start)

    benchmark.pedantic(timed, setup=time_other, rounds=rounds, warmup_rounds=warmup, iterations=1)
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing to compare
        return None
    kept = other_seconds[warmup:warmup + rounds]  # the rounds pytest-benchmark kept, not its warm-up
    stats = benchmark.stats.stats
    return Interleaved(stats.median, stats.min, statistics.median(kept), min(kept))


def max_ratio() -> float | None:
    """RNNBENCH_MAX_TUTORIAL_RATIO as a number, None when unset."""
    value = os.environ.get(RATIO_ENV, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    pytest.fail(f"{RATIO_ENV}={value!r} is not valid. Accepted: a number such as 1.05", pytrace=False)


def record(benchmark: Any, times: Interleaved, *, implementation: str, default: bool) -> float:
    """The ratio of medians (backend / tutorial), put in extra_info with the ratio of minima; returns it."""
    ratio = times.timed_median / times.other_median
    benchmark.extra_info.update({
        "implementation": implementation, "default_implementation": default,
        "tutorial_median_s": times.other_median, "ratio_backend_over_tutorial": ratio,
        "ratio_of_minima": times.timed_min / times.other_min,  # steadier on a noisy machine
    })
    return ratio


def check_ratio(ratio: float, *, default: bool = True) -> None:
    """Fail when RNNBENCH_MAX_TUTORIAL_RATIO is set and ``ratio`` (backend / tutorial) exceeds it.

    Only the backend's default implementation for the device and network
    (its best by the backend's own measured rule) is held to the bound; the
    other implementations' ratios are recorded for comparison.
    """
    bound = max_ratio()
    if bound is not None and default:
        assert ratio <= bound, f"backend/tutorial = {ratio:.3f} > {RATIO_ENV}={bound}"
