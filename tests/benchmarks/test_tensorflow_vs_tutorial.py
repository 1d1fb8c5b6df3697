"""The tensorflow backend's train_step against the loop the Keras tutorials teach, on every task shape and cell.

Run with ``pytest tests/benchmarks/test_tensorflow_vs_tutorial.py --benchmark-only -s``,
in its own process (the thread pools must be set before TensorFlow runs an op);
``-m "not slow"`` leaves out char_rnn and the 512-wide kernel shape.
Each benchmark times one implementation of the backend (pytest-benchmark,
pedantic mode) and, in the same run and interleaved round by round
(rnnbench/testing/tutorial.py), the tutorial loop on the same weights and
batch. The tutorial is the Keras examples' model and loop: a
``keras.Sequential`` of ``keras.Input``, ``Embedding`` (token input),
``num_layers`` stacked ``SimpleRNN``/``LSTM``/``GRU`` layers
(``return_sequences`` where the next layer or the lm head reads every step,
as in the "Text generation with an RNN" tutorial) and ``Dense``, with
Keras' defaults for everything else; ``model.compile`` with
``SparseCategoricalCrossentropy(from_logits=True)``,
``BinaryCrossentropy(from_logits=True)`` or ``"mse"`` and
``keras.optimizers.Adam`` or ``RMSprop`` given the task's hyperparameters
and ``global_clipnorm`` where the task clips (``jit_compile`` left at Keras'
"auto"); then ``model.train_on_batch(x, y)`` (``fit`` is that step plus
per-call dataset and callback set-up).

Same function: Keras' GRU (``reset_after=True``, its default) is the
ModelSpec's GRU, r applied to ``W_hn h + b_hn``; its gates are z, r, h
where the layout has r, z, n, and the backend's own mapping (layout.py
``to_keras``) reorders them, as it sums the two biases of SimpleRNN and
LSTM into Keras' one. ``test_first_loss_matches_backend`` checks that the
first-step losses agree on tiny shapes. Same work, up to what a Keras user
gets: one bias per gate where the backend updates two, and Keras' own update
rules (eps added inside RMSprop's root and to sqrt(v) before Adam's bias
correction, clipping without torch's 1e-6), which the backend replaces by
torch's. The ratio of medians (backend / tutorial) goes to extra_info; with
RNNBENCH_MAX_TUTORIAL_RATIO=1.05 the default implementation's ratio is
asserted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

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
from rnnbench.testing.tutorial import (  # noqa: E402
    LOSS_CHECK_SHAPES,
    SHAPES,
    batch,
    cases,
    check_ratio,
    interleave,
    record,
    tiny,
)

WARMUP_ROUNDS = 3
ROUNDS = 10
RECURRENT = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def tutorial_model(spec: ModelSpec, device: str) -> keras.Sequential:
    """The network as the Keras tutorials write it."""
    if spec.embedded:
        layers = [keras.Input(shape=(None,), dtype="int32"),
                  keras.layers.Embedding(spec.vocab_size, spec.embedding_dim)]
    else:
        layers = [keras.Input(shape=(None, spec.input_features))]
    # use_cudnn: Keras' "auto" on a GPU; on the CPU what "auto" picks on a machine without one
    cudnn = {} if spec.cell == "rnn" else {"use_cudnn": "auto" if device != "cpu" else False}
    for k in range(spec.num_layers):
        sequences = spec.head == "lm" or k < spec.num_layers - 1
        layers.append(RECURRENT[spec.cell](spec.hidden_size, return_sequences=sequences, **cudnn))
    layers.append(keras.layers.Dense(spec.output_size))
    return keras.Sequential(layers)


def tutorial_loss(spec: ModelSpec) -> Any:
    if spec.head == "lm":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.BinaryCrossentropy(from_logits=True) if spec.head == "classify" else "mse"


def tutorial_optimizer(opt: OptimizerSpec) -> keras.optimizers.Optimizer:
    clip = {} if opt.clip_norm is None else {"global_clipnorm": opt.clip_norm}
    if opt.name == "adam":
        return keras.optimizers.Adam(learning_rate=opt.lr, beta_1=opt.beta1, beta_2=opt.beta2, epsilon=opt.eps,
                                     **clip)
    if opt.name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=opt.lr, rho=opt.rho, epsilon=opt.eps, **clip)
    return keras.optimizers.SGD(learning_rate=opt.lr, momentum=opt.momentum, **clip)


def tutorial_step(spec: ModelSpec, params: Params, opt: OptimizerSpec,
                  device: str) -> tuple[Callable[[np.ndarray, np.ndarray], float], keras.Sequential]:
    """One step of the tutorial's training loop on the same weights as the backend (returns the loss), and the model."""
    placement = "/GPU:" + device.split(":")[1] if device.startswith("gpu") else "/CPU:0"
    with tf.device(placement):
        model = tutorial_model(spec, device)
        for layer, weights in zip(model.layers, to_keras(spec, params), strict=True):
            layer.set_weights(weights)
        model.compile(optimizer=tutorial_optimizer(opt), loss=tutorial_loss(spec))

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        with tf.device(placement):
            return model.train_on_batch(xb, yb)

    return step, model


def configure(backend: TensorflowBackend) -> dict[str, str]:
    threads = len(os.sched_getaffinity(0))
    try:
        return backend.configure(ParitySettings(threads=threads))
    except UsageError as err:  # TensorFlow already ran in this process with other pools
        pytest.skip(f"run this benchmark in its own process: {err}")


# The CPU and the first GPU.
@pytest.mark.parametrize(("shape_name", "implementation", "device"),
                         cases(TensorflowBackend(), TensorflowBackend().devices()[:2]))
def test_tensorflow_vs_tutorial(benchmark, shape_name: str, implementation: str, device: str) -> None:  # type: ignore[no-untyped-def]
    shape = SHAPES[shape_name]
    backend = TensorflowBackend()
    applied = configure(backend)
    backend.use_implementation(implementation)
    params = init_params(shape.spec, seed=0)
    model = backend.build(shape.spec, params, shape.optimizer, device=device)
    tutorial, keras_model = tutorial_step(shape.spec, params, shape.optimizer, device)
    x, y = batch(shape, index_dtype=np.int32)

    def backend_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    benchmark.group = f"tensorflow {shape_name} {device}"
    benchmark.extra_info.update(shape=shape_name, device=device, batch=shape.batch, steps=shape.steps)
    times = interleave(benchmark, backend_step, lambda: tutorial(x, y), rounds=ROUNDS, warmup=WARMUP_ROUNDS,
                       barrier=model.synchronize)
    if times is None:
        return
    default = implementation == backend.default_implementation(device, shape.spec)
    ratio = record(benchmark, times, implementation=implementation, default=default)
    info = model.runtime_info()
    benchmark.extra_info.update(kernel_path=info.kernel_path, jit_compile=info.settings["jit_compile"],
                                tutorial_jit_compile=str(keras_model.jit_compile),
                                threads=applied["intra_op_threads"])
    print(f"\n{shape_name} {implementation} on {device}: backend {times.timed_median * 1e3:.1f} ms, "
          f"tutorial {times.other_median * 1e3:.1f} ms, ratio {ratio:.3f} "
          f"(of minima {benchmark.extra_info['ratio_of_minima']:.3f}); {info.kernel_path}")
    check_ratio(ratio, default=default)


@pytest.mark.slow  # Keras' and the backend's tf.function traces: seconds per shape
@pytest.mark.parametrize("shape_name", LOSS_CHECK_SHAPES)
def test_first_loss_matches_backend(shape_name: str) -> None:
    """The tutorial's first-step loss is the backend's on the same weights and batch: the same function."""
    shape = tiny(SHAPES[shape_name])
    params = init_params(shape.spec, seed=0)
    x, y = batch(shape, index_dtype=np.int32)
    backend = TensorflowBackend()
    backend.use_implementation("graph")  # the same function as "xla" (rnnbench check), seconds sooner here
    model = backend.build(shape.spec, params, shape.optimizer)
    model.train_step(x, y)
    tutorial, _ = tutorial_step(shape.spec, params, shape.optimizer, "cpu")
    assert tutorial(x, y) == pytest.approx(model.last_loss(), rel=1e-4)
