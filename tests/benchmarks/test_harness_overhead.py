"""What the worker's timing harness adds to a training step, per backend.

Run with ``pytest tests/benchmarks/test_harness_overhead.py --benchmark-only -s``.
One case per installed backend is prepared exactly as the worker prepares
it (``rnnbench.worker.main.prepare``: configured backend, built model,
pre-fetched batches). Each round first runs the worker's training
measurement (``rnnbench.worker.modes.time_training``, what throughput mode
reports under "train"), then pytest-benchmark times a bare loop of as many
``train_step`` + ``synchronize`` calls on the same model and batches, each
call also timed on its own. The record's extra_info carries
``ratio = median(worker samples) / median(bare samples)`` over all rounds,
and ``ratio_min``, the same for the fastest samples. The target is within
2% (ratio <= 1.02); with RNNBENCH_MAX_HARNESS_RATIO set, the test asserts
the ratio is at most that.

On a loaded machine the step time itself wanders by more than 2% between
two loops, so the harness's own cost is also measured apart: the same two
loops over a step that does nothing (the real model's ``synchronize``
kept), many calls each. ``overhead_per_call_s`` is the difference of their
medians and ``overhead_fraction`` that over the bare median step.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from typing import cast

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from rnnbench.backend import Model
from rnnbench.case import Case
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.task import Batch
from rnnbench.worker.main import empty_document, prepare
from rnnbench.worker.modes import Setup, time_training

BACKENDS = ("numpy", "torch", "tensorflow", "jax")
STEPS = 15  # timed calls per round, on each side
ROUNDS = 8
NULL_CALLS = 2000  # calls of the do-nothing step, on each side
RATIO_ENV = "RNNBENCH_MAX_HARNESS_RATIO"


def make_setup(backend: str) -> Setup:
    registry = Registry(make_plugin_manager(load_entry_points=False))
    if not registry.backend(backend).available().ok:
        pytest.skip(registry.backend(backend).available().message(backend))
    case = Case(backend, "char_rnn", "lstm", "cpu", "throughput", profile="smoke", synthetic=True,
                hidden_size=64, batch_size=16, seq_len=50, warmup=3, steps=STEPS, threads=1)
    return prepare(case, registry, {}, empty_document())


def bare_loop(model: Model, batches: list[Batch], steps: int, samples: list[float]) -> None:
    """``steps`` training calls on the batches in turn, each timed to its synchronize."""
    for x, y in itertools.islice(itertools.cycle(batches), steps):
        start = time.perf_counter()
        model.train_step(x, y)
        model.synchronize()
        samples.append(time.perf_counter() - start)


class NullStep:
    """A model whose training step does nothing; its synchronize is the real model's."""

    def __init__(self, model: Model) -> None:
        self.synchronize = model.synchronize

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        pass


def null_overhead(setup: Setup) -> tuple[float, float]:
    """Median seconds per call of the worker's loop and of the bare loop around a do-nothing step."""
    assert setup.model is not None
    null = dataclasses.replace(setup, model=cast(Model, NullStep(setup.model)),
                               case=dataclasses.replace(setup.case, warmup=10, steps=NULL_CALLS))
    bare: list[float] = []
    worker = time_training(null)[0].samples
    bare_loop(cast(Model, null.model), setup.batches, NULL_CALLS, bare)
    return float(np.median(worker)), float(np.median(bare))


def max_ratio() -> float | None:
    value = os.environ.get(RATIO_ENV)
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        pytest.fail(f"{RATIO_ENV}={value!r} is not valid. Accepted: a number such as 1.02")


@pytest.mark.parametrize("backend", BACKENDS)
def test_harness_overhead(benchmark: BenchmarkFixture, backend: str) -> None:
    setup = make_setup(backend)
    assert setup.model is not None
    worker: list[float] = []
    bare: list[float] = []

    def worker_round() -> tuple[tuple, dict]:
        worker.extend(time_training(setup)[0].samples)  # untimed by pytest-benchmark: kept in ``worker``
        return (setup.model, setup.batches, STEPS, bare), {}

    benchmark.pedantic(bare_loop, setup=worker_round, rounds=ROUNDS, iterations=1)
    if not benchmark.stats:
        pytest.skip("benchmarking is disabled: nothing was timed")
    ratio = float(np.median(worker) / np.median(bare))
    null_worker, null_bare = null_overhead(setup)
    figures = {"backend": backend, "worker_median_step_s": float(np.median(worker)),
               "bare_median_step_s": float(np.median(bare)), "ratio": round(ratio, 4),
               "ratio_min": round(min(worker) / min(bare), 4), "samples_each": len(bare),
               "null_worker_median_s": null_worker, "null_bare_median_s": null_bare,
               "overhead_per_call_s": null_worker - null_bare,
               "overhead_fraction": round((null_worker - null_bare) / float(np.median(bare)), 6)}
    benchmark.extra_info.update(figures)
    print("\n" + "\n".join(f"  {name}: {value}" for name, value in figures.items()))
    limit = max_ratio()
    if limit is not None:
        assert ratio <= limit, f"the harness made the median {backend} step {ratio:.4f}x the bare loop's"
