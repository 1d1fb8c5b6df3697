"""The jax backend's train step next to the loop the JAX/optax tutorials teach.

Run with ``pytest tests/benchmarks/test_jax_vs_tutorial.py --benchmark-only -s``.
For each shape, the backend's train step and the tutorial's alternate step
by step in one process on the same batch (rnnbench/testing/tutorial.py):
pytest-benchmark times one of them (the row's ``impl``) while pedantic's
untimed setup runs and times the other, so noise from a shared machine hits
both alike. Every record carries ``ratio_to_tutorial = median(backend) /
median(tutorial)`` in extra_info. The acceptance criterion is ratio <= 1.05;
with RNNBENCH_MAX_TUTORIAL_RATIO set, the backend rows assert the ratio is
at most that.

The tutorial loop is optax's "Getting started" training step (a jitted
``step(params, opt_state, x, y)`` doing ``jax.value_and_grad``,
``optimizer.update`` and ``optax.apply_updates``, returning the loss) around
the LSTM of Flax's ``nn.RNN(nn.OptimizedLSTMCell(H))``, written in plain JAX
(flax is not a dependency): ``lax.scan`` over a cell that projects x_t and h
inside every step, one fused-gate matmul each, with a single bias; the
optimiser is ``optax.chain(optax.clip_by_global_norm, optax.adam)``. Both
sides run with the backend's matmul precision ("highest"), so on a GPU the
ratio compares implementations rather than TF32 against float32. On the CPU
the backend also projects inputs per step (hoisting measured slower on
XLA:CPU, see backends/jax_net.py), so there the ratio measures its
overheads: two biases, donation, host-side input casts; on a GPU it hoists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

from rnnbench.backends.jax_backend import JaxBackend  # noqa: E402
from rnnbench.params import Params, init_params  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402
from rnnbench.testing.tutorial import CLIP, LR, SHAPES, Shape, batch, check_ratio, interleave  # noqa: E402

OPTIMIZER = OptimizerSpec("adam", lr=LR, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=CLIP)
# Both loops run on the first GPU where there is one, else on the CPU.
DEVICE = (JaxBackend().devices()[1:] or ["cpu"])[0]
# (untimed rounds after the compiling call, timed rounds) per shape: more of the short IMDB steps.
ROUNDS = {"lstm512_dense": (2, 8), "imdb_lstm32": (3, 20)}


# --- the tutorial loop ---------------------------------------------------------------------------


def _tutorial_params(spec: ModelSpec, params: Params) -> dict[str, Any]:
    tree: dict[str, Any] = {
        "lstm": {"w_i": params["l0.w_ih"].T, "w_h": params["l0.w_hh"].T,  # (I, 4H), (H, 4H)
                 "b": params["l0.b_ih"] + params["l0.b_hh"]},  # (4H,)
        "head": {"w": params["head.w"].T, "b": params["head.b"]},  # (H, O), (O,)
    }
    if spec.embedded:
        tree["embedding"] = params["embedding"]  # (V, D)
    return jax.device_put(tree, JaxBackend().resolve_device(DEVICE))


def _lstm_cell(p: dict[str, Any], carry: tuple[Any, Any], x_t: Any) -> tuple[tuple[Any, Any], Any]:
    h, c = carry
    gates = x_t @ p["w_i"] + h @ p["w_h"] + p["b"]  # (B, 4H)
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h


def _tutorial_step(head: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The jitted step and the optimiser's init."""
    def model(params: dict[str, Any], x: Any) -> Any:
        xs = params["embedding"][x] if "embedding" in params else x  # (B, T, D)
        zeros = jnp.zeros((xs.shape[0], params["lstm"]["w_h"].shape[0]), xs.dtype)
        (h, _), _ = lax.scan(partial(_lstm_cell, params["lstm"]), (zeros, zeros), jnp.swapaxes(xs, 0, 1))
        return h @ params["head"]["w"] + params["head"]["b"]  # (B, O)

    def loss(params: dict[str, Any], x: Any, y: Any) -> Any:
        out = model(params, x)
        if head == "classify":
            return optax.sigmoid_binary_cross_entropy(out, y).mean()
        return jnp.mean((out - y) ** 2)

    optimizer = optax.chain(optax.clip_by_global_norm(OPTIMIZER.clip_norm), optax.adam(OPTIMIZER.lr))

    @jax.jit
    def step(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
        loss_value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss_value

    return step, optimizer.init


def _tutorial_runner(shape: Shape, params: Params, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    step, init = _tutorial_step(shape.spec.head)
    state = {"params": _tutorial_params(shape.spec, params)}
    state["opt_state"] = init(state["params"])

    def run() -> None:
        state["params"], state["opt_state"], _ = step(state["params"], state["opt_state"], x, y)
        jax.block_until_ready((state["params"], state["opt_state"]))

    return run


def _backend_runner(shape: Shape, params: Params, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    model = JaxBackend().build(shape.spec, params, OPTIMIZER, device=DEVICE)

    def run() -> None:
        model.train_step(x, y)
        model.synchronize()

    return run


# --- the benchmarks ------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _same_precision() -> Iterator[None]:
    previous = jax.config.jax_default_matmul_precision
    # The backend's matmul precision, for the tutorial too.
    jax.config.update("jax_default_matmul_precision", "highest")
    yield
    jax.config.update("jax_default_matmul_precision", previous)


RUNNERS = {"tutorial": _tutorial_runner, "rnnbench": _backend_runner}


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("impl", ["rnnbench", "tutorial"])
def test_train_step(benchmark: Any, shape_name: str, impl: str) -> None:
    shape = SHAPES[shape_name]
    x, y = batch(shape, index_dtype=np.int32)
    params = init_params(shape.spec, 0)
    runs = {name: make(shape, params, x, y) for name, make in RUNNERS.items()}
    for run in runs.values():
        run()  # compile outside the timed rounds
    other = "tutorial" if impl == "rnnbench" else "rnnbench"
    warmup, rounds = ROUNDS[shape_name]
    benchmark.group = f"jax {shape_name}"
    benchmark.extra_info.update(impl=impl, shape=shape_name, batch=shape.batch, steps=shape.steps, device=DEVICE)
    times = interleave(benchmark, runs[impl], runs[other], rounds=rounds, warmup=warmup)
    if times is None:
        return
    medians = {impl: times.timed_median, other: times.other_median}
    ratio = medians["rnnbench"] / medians["tutorial"]
    benchmark.extra_info.update(other_median_s=medians[other], ratio_to_tutorial=ratio)
    print(f"\njax {shape_name} on {DEVICE} ({impl} timed): backend/tutorial median ratio = {ratio:.3f}")
    if impl == "rnnbench":
        check_ratio(ratio)
