"""The tensorflow backend's train_step against the loop the Keras tutorials teach.

Run with ``pytest tests/benchmarks/test_tensorflow_vs_tutorial.py --benchmark-only -s``,
in its own process (the thread pools must be set before TensorFlow runs an op).
Each test times the backend (pytest-benchmark, pedantic mode) and, in the same
run and interleaved round by round, the tutorial loop: an equivalent
``keras.Sequential`` loaded with the same weights, ``model.compile(...)`` with
Keras' defaults except the learning rate and the clipping, and
``model.train_on_batch(x, y)`` on the same batch (``fit`` is that step plus
per-call dataset and callback set-up). The ratio of medians (backend /
tutorial) goes to extra_info; the acceptance criterion is <= 1.05, asserted
only where RNNBENCH_MAX_TUTORIAL_RATIO sets the bound, because a shared
machine is too noisy to fail on by default.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.tensorflow_backend import TensorflowBackend  # noqa: E402
from rnnbench.backends.tensorflow_layout import to_keras  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.params import Params, init_params  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402

WARMUP_ROUNDS = 3
ROUNDS = 10
LR = 1e-3
CLIP = 1.0  # both loops clip by the global norm


@dataclass(frozen=True)
class Shape:
    """One benchmark workload."""

    spec: ModelSpec
    batch: int  # B
    steps: int  # T


SHAPES: dict[str, Shape] = {
    # (a) dense LSTM, input = hidden = 512, a forecasting-style regression head
    "lstm512_dense": Shape(
        ModelSpec(cell="lstm", hidden_size=512, head="regress", output_size=1, input_features=512), 64, 50),
    # (b) IMDB-style: Embedding(10000, 32) -> LSTM(32) -> one sentiment logit
    "imdb_lstm32": Shape(
        ModelSpec(cell="lstm", hidden_size=32, head="classify", output_size=1, vocab_size=10000,
                  embedding_dim=32), 128, 500),
}


def tutorial_step(spec: ModelSpec, params: Params, device: str) -> Callable[[np.ndarray, np.ndarray], None]:
    """One step of the tutorial's training loop, on the same weights as the backend."""
    placement = "/GPU:0" if device.startswith("gpu") else "/CPU:0"
    with tf.device(placement):
        model = keras.Sequential([keras.layers.Embedding(spec.vocab_size, spec.embedding_dim)] if spec.embedded
                                 else [keras.Input(shape=(None, spec.input_features))])
        # use_cudnn: Keras' "auto" on a GPU; on the CPU what "auto" picks on a machine without one
        model.add(keras.layers.LSTM(spec.hidden_size, use_cudnn="auto" if device != "cpu" else False))
        model.add(keras.layers.Dense(spec.output_size))
        model.build((None, None) if spec.embedded else (None, None, spec.input_features))
        for layer, weights in zip(model.layers, to_keras(spec, params), strict=True):
            layer.set_weights(weights)
        loss = "mse" if spec.head == "regress" else keras.losses.BinaryCrossentropy(from_logits=True)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR, global_clipnorm=CLIP), loss=loss)

    def step(xb: np.ndarray, yb: np.ndarray) -> None:
        with tf.device(placement):
            model.train_on_batch(xb, yb)

    return step


def batch(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    spec = shape.spec
    if spec.embedded:
        x = rng.integers(0, spec.vocab_size, (shape.batch, shape.steps)).astype(np.int32)  # (B, T)
        y = (rng.random((shape.batch, spec.output_size)) > 0.5).astype(np.float32)  # (B, 1)
    else:
        x = rng.standard_normal((shape.batch, shape.steps, spec.input_features), np.float32)  # (B, T, F)
        y = rng.standard_normal((shape.batch, spec.output_size), dtype=np.float32)  # (B, 1)
    return x, y


def configure(backend: TensorflowBackend) -> dict[str, str]:
    threads = len(os.sched_getaffinity(0))
    try:
        return backend.configure(ParitySettings(threads=threads))
    except UsageError as err:  # TensorFlow already ran in this process with other pools
        pytest.skip(f"run this benchmark in its own process: {err}")


@pytest.mark.parametrize("device", TensorflowBackend().devices()[:2])  # the CPU and the first GPU
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_tensorflow_vs_tutorial(benchmark, shape_name: str, device: str) -> None:  # type: ignore[no-untyped-def]
    shape = SHAPES[shape_name]
    backend = TensorflowBackend()
    applied = configure(backend)
    params = init_params(shape.spec, seed=0)
    model = backend.build(shape.spec, params, OptimizerSpec("adam", lr=LR, clip_norm=CLIP), device=device)
    tutorial = tutorial_step(shape.spec, params, device)
    x, y = batch(shape)
    tutorial_times: list[float] = []

    def time_tutorial() -> None:  # pytest-benchmark's untimed setup: runs before every round
        model.synchronize()
        start = time.perf_counter()
        tutorial(x, y)
        model.synchronize()
        tutorial_times.append(time.perf_counter() - start)

    def backend_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    benchmark.pedantic(backend_step, setup=time_tutorial, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS,
                       iterations=1)
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing to compare
        return
    timed = tutorial_times[WARMUP_ROUNDS:WARMUP_ROUNDS + ROUNDS]
    tutorial_median = statistics.median(timed)
    ratio = benchmark.stats.stats.median / tutorial_median
    info = model.runtime_info()
    benchmark.extra_info.update({
        "tutorial_median_s": tutorial_median, "ratio_backend_over_tutorial": ratio,
        "ratio_of_minima": benchmark.stats.stats.min / min(timed),  # steadier on a noisy machine
        "kernel_path": info.kernel_path, "jit_compile": info.settings["jit_compile"],
        "threads": applied["intra_op_threads"],
    })
    print(f"\n{shape_name} on {device}: backend {benchmark.stats.stats.median * 1e3:.1f} ms, "
          f"tutorial {tutorial_median * 1e3:.1f} ms, ratio {ratio:.3f} "
          f"(of minima {benchmark.extra_info['ratio_of_minima']:.3f}); {info.kernel_path}")
    bound = os.environ.get("RNNBENCH_MAX_TUTORIAL_RATIO")
    if bound is not None:
        assert ratio <= float(bound), f"backend/tutorial = {ratio:.3f} > {bound}"
