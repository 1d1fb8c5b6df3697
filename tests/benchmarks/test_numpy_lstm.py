"""How close the NumPy LSTM training step comes to NumPy's own matmul rate.

Run with ``pytest tests/benchmarks/test_numpy_lstm.py --benchmark-only -s``.
The step is timed by pytest-benchmark in pedantic mode (fixed warm-up and
rounds); the float32 ``A @ B`` rate at n = 1024 and 2048 is measured in the
same run, once before every round (warm-up included), so their ratio means
something on a shared, noisy machine where a wall time alone would not.
Both sides take their best: the step's fastest round against the faster
size's best product. FLOPs follow ``rnnbench.flops`` (matmuls only,
training = 3x forward).

Set RNNBENCH_MIN_MATMUL_FRACTION (e.g. 0.65) to fail when the step reaches
less than that fraction of the matmul rate; unset, nothing is asserted.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from rnnbench.backends.numpy_backend import NumpyBackend
from rnnbench.flops import train_step_flops
from rnnbench.params import init_params
from rnnbench.spec import ModelSpec, OptimizerSpec

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

SPEC = ModelSpec("lstm", hidden_size=512, head="regress", output_size=1, input_features=512, dtype="float32")
BATCH, STEPS = 64, 50
WARMUP_ROUNDS, ROUNDS = 2, 5
MATMUL_SIZES = (1024, 2048)
MIN_FRACTION_ENV = "RNNBENCH_MIN_MATMUL_FRACTION"


class MatmulRate:
    """The best float32 GFLOP/s of an (n, n) @ (n, n) product seen so far, per n."""

    def __init__(self, sizes: tuple[int, ...], rng: np.random.Generator) -> None:
        self.operands = {n: (rng.standard_normal((n, n), dtype=np.float32),
                             rng.standard_normal((n, n), dtype=np.float32),
                             np.empty((n, n), np.float32)) for n in sizes}
        self.best = dict.fromkeys(sizes, 0.0)

    def measure(self) -> None:
        """Time one product of each size."""
        for n, (a, b, out) in self.operands.items():
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            self.best[n] = max(self.best[n], 2 * n**3 / (time.perf_counter() - start) / 1e9)


def min_fraction() -> float | None:
    value = os.environ.get(MIN_FRACTION_ENV)
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        pytest.fail(f"{MIN_FRACTION_ENV}={value!r} is not valid. Accepted: a number such as 0.65")


def test_numpy_lstm_train_step(benchmark: BenchmarkFixture) -> None:
    rng = np.random.Generator(np.random.PCG64(0))
    model = NumpyBackend().build(SPEC, init_params(SPEC, seed=0), OptimizerSpec("adam", lr=1e-3))
    x = rng.standard_normal((BATCH, STEPS, 512), dtype=np.float32)  # (B, T, F)
    y = rng.standard_normal((BATCH, 1), dtype=np.float32)  # (B, O)
    matmul = MatmulRate(MATMUL_SIZES, rng)

    def setup() -> tuple[tuple[np.ndarray, np.ndarray], dict]:
        matmul.measure()  # before every round, untimed: both rates see the same machine load
        return (x, y), {}

    benchmark.pedantic(model.train_step, setup=setup, warmup_rounds=WARMUP_ROUNDS, rounds=ROUNDS)
    if not benchmark.stats:
        pytest.skip("benchmarking is disabled: nothing was timed")
    flops = train_step_flops(SPEC, BATCH, STEPS)
    step_gflops = flops / benchmark.stats["min"] / 1e9
    ratio = step_gflops / max(matmul.best.values())
    figures = {
        "train_step_flops": flops,
        "step_gflops": round(step_gflops, 2),
        "step_gflops_median": round(flops / benchmark.stats["median"] / 1e9, 2),
        **{f"matmul_gflops_n{n}": round(rate, 2) for n, rate in matmul.best.items()},
        "matmul_fraction": round(ratio, 3),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "default")),
    }
    benchmark.extra_info.update(figures)
    print("\n" + "\n".join(f"  {name}: {value}" for name, value in figures.items()))
    required = min_fraction()
    if required is not None:
        assert ratio >= required, f"the step reached {ratio:.3f} of the matmul rate, below {required}"
