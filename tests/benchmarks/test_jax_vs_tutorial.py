"""The jax backend's train step next to the loop the JAX/optax tutorials teach, on every task shape and cell.

Run with ``pytest tests/benchmarks/test_jax_vs_tutorial.py --benchmark-only -s``
(``-m "not slow"`` leaves out char_rnn and the 512-wide kernel shape).
For each shape and implementation of the backend, its train step and the
tutorial's alternate step by step in one process on the same batch
(rnnbench/testing/tutorial.py): pytest-benchmark times the backend while
pedantic's untimed setup runs and times the tutorial, so noise from a
shared machine hits both alike. Every record carries
``ratio_backend_over_tutorial = median(backend) / median(tutorial)`` in
extra_info; with RNNBENCH_MAX_TUTORIAL_RATIO set, the default
implementation's ratio is asserted to be at most that.

The tutorial loop is optax's "Getting started" training step (a jitted
``step(params, opt_state, x, y)`` doing ``jax.value_and_grad``,
``optimizer.update`` and ``optax.apply_updates``, returning the loss)
around the cells of Flax's ``nn.RNN`` written in plain JAX (flax is not a
dependency): ``lax.scan`` over a cell that projects x_t and h inside every
step, one fused-gate matmul each, one layer after the other, every step's
h kept. Biases as Flax keeps them: ``SimpleCell`` and ``OptimizedLSTMCell``
one per gate (the canonical b_ih + b_hh); ``GRUCell`` one each for r and z,
and b_in, b_hn apart with b_hn inside ``r * (...)``, so the GRU is the
ModelSpec's. Weights come from the backend's own layout (layout.py
``to_tree``), the biases summed where Flax has one. The head is a Dense on
every step (lm: ``optax.softmax_cross_entropy_with_integer_labels``) or on
the last (classify: ``optax.sigmoid_binary_cross_entropy``; regress:
``optax.squared_error``), each a mean. The optimiser is ``optax.adam`` or
``optax.rmsprop`` with the task's hyperparameters, after
``optax.clip_by_global_norm`` where the task clips: optax's own rules
(RMSprop's eps inside the root, clipping without torch's 1e-6), which the
backend replaces by torch's. ``test_first_loss_matches_backend`` checks the
two compute the same function on tiny shapes.

Both sides run with the backend's matmul precision ("highest"), so on a GPU
the ratio compares implementations rather than TF32 against float32.
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
from rnnbench.backends.jax_backend.layout import to_tree  # noqa: E402
from rnnbench.params import Params, init_params  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402
from rnnbench.testing.tutorial import (  # noqa: E402
    LOSS_CHECK_SHAPES,
    SHAPES,
    Shape,
    batch,
    cases,
    check_ratio,
    interleave,
    record,
    tiny,
)

# Both loops run on the first GPU where there is one, else on the CPU.
DEVICE = (JaxBackend().devices()[1:] or ["cpu"])[0]


def rounds(shape: Shape) -> tuple[int, int]:
    """(untimed rounds after the compiling call, timed rounds): more of the short steps."""
    return (2, 8) if shape.slow else (3, 20)


# --- the tutorial loop ---------------------------------------------------------------------------


def tutorial_params(spec: ModelSpec, params: Params) -> dict[str, Any]:
    """The backend's pytree with Flax's biases: one per gate, but b_hn apart in the GRU."""
    tree = to_tree(spec, params)  # kernels (in, out), gate blocks in the canonical order
    h = spec.hidden_size
    layers = []
    for layer in tree.pop("layers"):
        b_ih, b_hh = layer["b_ih"], layer["b_hh"]  # (G*H,) each
        fused = {"w_i": layer["w_ih"], "w_h": layer["w_hh"]}  # (I, G*H), (H, G*H)
        if spec.cell == "gru":
            fused["b"] = np.concatenate([b_ih[:2 * h] + b_hh[:2 * h], b_ih[2 * h:]])  # (3H,): r, z, n
            fused["b_hn"] = b_hh[2 * h:]  # (H,)
        else:
            fused["b"] = b_ih + b_hh  # (G*H,)
        layers.append(fused)
    return jax.device_put({**tree, "layers": layers}, JaxBackend().resolve_device(DEVICE))


def rnn_cell(p: dict[str, Any], h: Any, x_t: Any) -> tuple[Any, Any]:
    h = jnp.tanh(x_t @ p["w_i"] + h @ p["w_h"] + p["b"])  # (B, H)
    return h, h


def lstm_cell(p: dict[str, Any], carry: tuple[Any, Any], x_t: Any) -> tuple[tuple[Any, Any], Any]:
    h, c = carry
    gates = x_t @ p["w_i"] + h @ p["w_h"] + p["b"]  # (B, 4H)
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h


def gru_cell(p: dict[str, Any], h: Any, x_t: Any) -> tuple[Any, Any]:
    x_r, x_z, x_n = jnp.split(x_t @ p["w_i"] + p["b"], 3, axis=-1)  # 3 x (B, H)
    h_r, h_z, h_n = jnp.split(h @ p["w_h"], 3, axis=-1)  # 3 x (B, H)
    r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * (h_n + p["b_hn"]))
    h = (1 - z) * n + z * h  # (B, H)
    return h, h


CELLS = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell}


def tutorial_optimizer(opt: OptimizerSpec) -> optax.GradientTransformation:
    if opt.name == "adam":
        rule = optax.adam(opt.lr, b1=opt.beta1, b2=opt.beta2, eps=opt.eps)
    elif opt.name == "rmsprop":
        rule = optax.rmsprop(opt.lr, decay=opt.rho, eps=opt.eps)
    else:
        rule = optax.sgd(opt.lr, momentum=opt.momentum or None)
    return rule if opt.clip_norm is None else optax.chain(optax.clip_by_global_norm(opt.clip_norm), rule)


def tutorial_step(spec: ModelSpec, opt: OptimizerSpec) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The jitted step and the optimiser's init."""
    cell = CELLS[spec.cell]

    def model(params: dict[str, Any], x: Any) -> Any:
        xs = params["embedding"][x] if "embedding" in params else x  # (B, T, D)
        hs = jnp.swapaxes(xs, 0, 1)  # (T, B, D)
        for layer in params["layers"]:
            zeros = jnp.zeros((hs.shape[1], layer["w_h"].shape[0]), hs.dtype)  # (B, H)
            _, hs = lax.scan(partial(cell, layer), (zeros, zeros) if spec.cell == "lstm" else zeros, hs)  # (T, B, H)
        features = jnp.swapaxes(hs, 0, 1) if spec.head == "lm" else hs[-1]  # (B, T, H) or (B, H)
        return features @ params["head"]["w"] + params["head"]["b"]  # (B, T, V) or (B, O)

    def loss(params: dict[str, Any], x: Any, y: Any) -> Any:
        out = model(params, x)
        if spec.head == "lm":
            return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
        if spec.head == "classify":
            return optax.sigmoid_binary_cross_entropy(out, y).mean()
        return optax.squared_error(out, y).mean()

    optimizer = tutorial_optimizer(opt)

    @jax.jit
    def step(params: Any, opt_state: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
        loss_value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss_value

    return step, optimizer.init


def tutorial_runner(shape: Shape, params: Params, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    """One tutorial step per call, waited for; returns its loss."""
    step, init = tutorial_step(shape.spec, shape.optimizer)
    state = {"params": tutorial_params(shape.spec, params)}
    state["opt_state"] = init(state["params"])

    def run() -> Any:
        state["params"], state["opt_state"], loss = step(state["params"], state["opt_state"], x, y)
        jax.block_until_ready((state["params"], state["opt_state"]))
        return loss

    return run


# --- the benchmarks ------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _same_precision() -> Iterator[None]:
    previous = jax.config.jax_default_matmul_precision
    # The backend's matmul precision, for the tutorial too.
    jax.config.update("jax_default_matmul_precision", "highest")
    yield
    jax.config.update("jax_default_matmul_precision", previous)


@pytest.mark.parametrize(("shape_name", "implementation", "device"), cases(JaxBackend(), [DEVICE]))
def test_jax_vs_tutorial(benchmark: Any, shape_name: str, implementation: str, device: str) -> None:
    shape = SHAPES[shape_name]
    x, y = batch(shape, index_dtype=np.int32)
    params = init_params(shape.spec, 0)
    backend = JaxBackend()
    backend.use_implementation(implementation)
    model = backend.build(shape.spec, params, shape.optimizer, device=device)
    tutorial = tutorial_runner(shape, params, x, y)

    def backend_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    backend_step()  # compile both outside the timed rounds
    tutorial()
    warmup, timed = rounds(shape)
    benchmark.group = f"jax {shape_name} {device}"
    benchmark.extra_info.update(shape=shape_name, device=device, batch=shape.batch, steps=shape.steps)
    times = interleave(benchmark, backend_step, tutorial, rounds=timed, warmup=warmup)
    if times is None:
        return
    default = implementation == backend.default_implementation(device, shape.spec)
    ratio = record(benchmark, times, implementation=implementation, default=default)
    benchmark.extra_info.update(kernel_path=model.runtime_info().kernel_path)
    print(f"\njax {shape_name} {implementation} on {device}: backend {times.timed_median * 1e3:.1f} ms, "
          f"tutorial {times.other_median * 1e3:.1f} ms, ratio {ratio:.3f} "
          f"(of minima {benchmark.extra_info['ratio_of_minima']:.3f})")
    check_ratio(ratio, default=default)


@pytest.mark.slow  # two XLA compiles of a train step: seconds per shape
@pytest.mark.parametrize("shape_name", LOSS_CHECK_SHAPES)
def test_first_loss_matches_backend(shape_name: str) -> None:
    """The tutorial's first-step loss is the backend's on the same weights and batch: the same function."""
    shape = tiny(SHAPES[shape_name])
    params = init_params(shape.spec, 0)
    x, y = batch(shape, index_dtype=np.int32)
    model = JaxBackend().build(shape.spec, params, shape.optimizer, device=DEVICE)
    model.train_step(x, y)
    loss = tutorial_runner(shape, params, x, y)()
    assert float(loss) == pytest.approx(model.last_loss(), rel=1e-4)
