"""A backend's training step timed next to the loop a framework's own tutorial teaches, in the same run.

Shared by tests/benchmarks/test_{torch,tensorflow,jax}_vs_tutorial.py: the two
workloads of issue 3's speed criterion, their seeded batch, and the
interleaving. pytest-benchmark times one loop in pedantic mode while its
untimed ``setup`` runs and times the other before every round, so the two
alternate step by step and a shared machine's noise hits both alike. The
acceptance criterion is ``median(backend) / median(tutorial) <= 1.05``;
it is asserted only where RNNBENCH_MAX_TUTORIAL_RATIO sets the bound,
because a shared machine is too noisy to fail on by default.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from rnnbench.spec import ModelSpec

RATIO_ENV = "RNNBENCH_MAX_TUTORIAL_RATIO"
LR = 1e-3
CLIP = 1.0  # both loops clip by the global norm, as the PyTorch language-model example does


@dataclass(frozen=True)
class Shape:
    """One benchmark workload."""

    spec: ModelSpec
    batch: int  # B
    steps: int  # T


SHAPES: dict[str, Shape] = {
    # (a) dense LSTM, input = hidden = 512, a forecasting-style regression head (compute bound)
    "lstm512_dense": Shape(
        ModelSpec(cell="lstm", hidden_size=512, head="regress", output_size=1, input_features=512), 64, 50),
    # (b) IMDB-style: Embedding(10000, 32) -> LSTM(32) -> one sentiment logit (latency bound)
    "imdb_lstm32": Shape(
        ModelSpec(cell="lstm", hidden_size=32, head="classify", output_size=1, vocab_size=10000,
                  embedding_dim=32), 128, 500),
}


def batch(shape: Shape, index_dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
    """The seeded batch both loops train on: token ids or dense features, and targets."""
    rng = np.random.default_rng(0)
    spec = shape.spec
    x: np.ndarray
    if spec.embedded:
        x = rng.integers(0, spec.vocab_size, (shape.batch, shape.steps)).astype(index_dtype)  # (B, T)
        y = (rng.random((shape.batch, spec.output_size)) > 0.5).astype(np.float32)  # (B, 1)
    else:
        x = rng.standard_normal((shape.batch, shape.steps, spec.layer_input_size(0)), np.float32)  # (B, T, F)
        y = rng.standard_normal((shape.batch, spec.output_size), dtype=np.float32)  # (B, 1)
    return x, y


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


def check_ratio(ratio: float) -> None:
    """Fail when RNNBENCH_MAX_TUTORIAL_RATIO is set and ``ratio`` (backend / tutorial) exceeds it."""
    bound = max_ratio()
    if bound is not None:
        assert ratio <= bound, f"backend/tutorial = {ratio:.3f} > {RATIO_ENV}={bound}"
