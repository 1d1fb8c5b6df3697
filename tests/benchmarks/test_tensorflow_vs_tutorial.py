"""The tensorflow backend's train_step against the loop the Keras tutorials teach.

Run with ``pytest tests/benchmarks/test_tensorflow_vs_tutorial.py --benchmark-only -s``,
in its own process (the thread pools must be set before TensorFlow runs an op).
Each test times the backend (pytest-benchmark, pedantic mode) and, in the same
run and interleaved round by round (rnnbench/testing/tutorial.py), the
tutorial loop: an equivalent ``keras.Sequential`` loaded with the same
weights, ``model.compile(...)`` with Keras' defaults except the learning rate
and the clipping, and ``model.train_on_batch(x, y)`` on the same batch
(``fit`` is that step plus per-call dataset and callback set-up). The ratio
of medians (backend / tutorial) goes to extra_info;
RNNBENCH_MAX_TUTORIAL_RATIO=1.05 asserts it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.tensorflow_backend import TensorflowBackend  # noqa: E402
from rnnbench.backends.tensorflow_backend.layout import to_keras  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.params import Params, init_params  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402
from rnnbench.testing.tutorial import CLIP, LR, SHAPES, batch, check_ratio, interleave  # noqa: E402

WARMUP_ROUNDS = 3
ROUNDS = 10


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
    x, y = batch(shape, index_dtype=np.int32)

    def backend_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    times = interleave(benchmark, backend_step, lambda: tutorial(x, y), rounds=ROUNDS, warmup=WARMUP_ROUNDS,
                       barrier=model.synchronize)
    if times is None:
        return
    ratio = times.timed_median / times.other_median
    info = model.runtime_info()
    benchmark.extra_info.update({
        "tutorial_median_s": times.other_median, "ratio_backend_over_tutorial": ratio,
        "ratio_of_minima": times.timed_min / times.other_min,  # steadier on a noisy machine
        "kernel_path": info.kernel_path, "jit_compile": info.settings["jit_compile"],
        "threads": applied["intra_op_threads"],
    })
    print(f"\n{shape_name} on {device}: backend {times.timed_median * 1e3:.1f} ms, "
          f"tutorial {times.other_median * 1e3:.1f} ms, ratio {ratio:.3f} "
          f"(of minima {benchmark.extra_info['ratio_of_minima']:.3f}); {info.kernel_path}")
    check_ratio(ratio)
