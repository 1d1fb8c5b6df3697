"""The JAX model: jitted pure functions over a parameter pytree on one device.

Imported only from ``JaxBackend.build`` (it imports jax). The train step is
one ``jax.jit`` of value-and-grad plus the optax update. On a GPU the parameter
and optimiser-state buffers are donated, so XLA updates them in place and
device memory holds one copy (``donates``). The streaming step is one more
``jax.jit``, with the states as arguments: one compile per batch shape, not
per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnbench.backend import MemoryStats, Model, RuntimeInfo
from rnnbench.kit import model_inputs
from rnnbench.params import Params, State
from rnnbench.spec import ModelSpec, OptimizerSpec

from . import net as jax_net
from . import scaling
from .layout import Tree, from_carries, from_tree, to_carries, to_tree
from .optim import make_optimizer

MEMORY_SOURCE = "jax Device.memory_stats()['peak_bytes_in_use'] (process peak; JAX cannot reset it)"


def donates(platform: str) -> bool:
    """Whether the train step donates the parameters and optimiser state: on accelerators, not on the CPU.

    Donation saves device memory (one copy of the state, not two). XLA:CPU gains nothing from it and the
    step was slower with it: the char_rnn GRU step 1.05-1.11x the tutorial loop's with donation, 0.98-1.01x
    without; the char_rnn RNN 0.98x against 0.91x (interleaved A/B, 30-40 rounds each, 2026-12-01); the
    forecasting and IMDB shapes the same either way.
    """
    return platform != "cpu"


def _compute(spec: ModelSpec) -> Any:
    """The dtype the network computes in under mixed precision (bfloat16, float16); None: the tree's own."""
    return None if spec.autocast is None else jnp.dtype(spec.autocast)


def inference_functions(spec: ModelSpec, loop: jax_net.Loop) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(predict, stream: the streaming step), pure and not jitted: what ``_jitted`` jits and export.py exports."""
    compute = _compute(spec)
    precision = jax_net.matmul_precision(spec.tf32)  # every matmul traced below

    def predict(tree: Tree, x: jax.Array) -> jax.Array:
        with jax.default_matmul_precision(precision):
            return jax_net.predict(spec.cell, spec.head, loop, tree, x, compute)

    def stream(tree: Tree, x: jax.Array, carries: list[jax_net.Carry]) -> tuple[jax.Array, list[jax_net.Carry]]:
        with jax.default_matmul_precision(precision):
            return jax_net.step(spec.cell, loop, tree, x, carries, compute)

    return predict, stream


def _jitted(spec: ModelSpec, tx: optax.GradientTransformation, loop: jax_net.Loop,
            donate: bool = False) -> tuple[Callable[..., Any], ...]:
    """(loss_and_grads, train_step, predict, stream: the streaming step), each one jax.jit."""

    compute = _compute(spec)
    precision = jax_net.matmul_precision(spec.tf32)  # every matmul traced below, and its transposes

    def loss(tree: Tree, x: jax.Array, y: jax.Array) -> jax.Array:
        return jax_net.loss(spec.cell, spec.head, loop, tree, x, y, compute)

    def loss_and_grads(tree: Tree, opt_state: optax.OptState, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Tree]:
        with jax.default_matmul_precision(precision):  # the forward's matmuls and the backward's
            if spec.autocast == "float16":  # opt_state is (optax's, the loss scale's)
                return scaling.scaled_value_and_grad(loss, opt_state[1].scale)(tree, x, y)
            return jax.value_and_grad(loss)(tree, x, y)

    def step(tree: Tree, opt_state: optax.OptState, x: jax.Array,
             y: jax.Array) -> tuple[Tree, optax.OptState, jax.Array]:
        value, grads = loss_and_grads(tree, opt_state, x, y)
        if spec.autocast == "float16":
            inner, scale_state = opt_state
            tree, inner, scale_state = scaling.step(tx, tree, inner, scale_state, grads)
            return tree, (inner, scale_state), value
        updates, opt_state = tx.update(grads, opt_state, tree)
        return optax.apply_updates(tree, updates), opt_state, value

    predict, stream = inference_functions(spec, loop)
    return (jax.jit(loss_and_grads),
            jax.jit(step, donate_argnums=(0, 1) if donate else ()),  # donated: updated in place
            jax.jit(predict),
            jax.jit(stream))


class JaxModel(Model):
    """One network on one jax device, trained by an optax transformation."""

    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec,
                 device: jax.Device, loop: jax_net.Loop, info: RuntimeInfo) -> None:
        self.spec = spec
        self.device = device
        self._info = info
        self._tx = make_optimizer(optimizer)
        self._loss_and_grads, self._step, self._predict, self._stream = _jitted(
            spec, self._tx, loop, donates(device.platform))
        # Host-side casts, no-ops when the task already sends these dtypes.
        self._tree: Tree = {}
        self._opt_state: optax.OptState = None
        self._last_loss: jax.Array | None = None  # left on the device until asked for
        self.set_params(params)

    def _inputs(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        return model_inputs(self.spec, x, y, ids=np.int32)  # int32 ids: XLA's native index type

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        # Asynchronous: returns once the step is queued; synchronize() waits for it.
        self._tree, self._opt_state, self._last_loss = self._step(self._tree, self._opt_state, *self._inputs(x, y))

    def last_loss(self) -> float | None:
        return None if self._last_loss is None else float(self._last_loss)

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        loss, grads = self._loss_and_grads(self._tree, self._opt_state, *self._inputs(x, y))
        return float(loss), from_tree(self.spec, grads)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.array(self._predict(self._tree, *self._inputs(x)))

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        out, carries = self._stream(self._tree, *self._inputs(x), to_carries(self.spec, state))
        return np.array(out), from_carries(self.spec, carries)

    def get_params(self) -> Params:
        return from_tree(self.spec, self._tree)

    def set_params(self, params: Params) -> None:
        self._tree = jax.device_put(to_tree(self.spec, params), self.device)
        # device_put again: optax's zeros_like/counters may land on the default device.
        state = self._tx.init(self._tree)
        if self.spec.autocast == "float16":  # a fresh model: a fresh loss scale beside the optimiser's state
            state = (state, scaling.initial_state())
        self._opt_state = jax.device_put(state, self.device)

    def synchronize(self) -> None:
        jax.block_until_ready((self._tree, self._opt_state))

    def device_memory(self) -> MemoryStats | None:
        if self.device.platform == "cpu":
            return None
        stats = self.device.memory_stats()
        if not stats or "peak_bytes_in_use" not in stats:
            return None
        return MemoryStats(peak_bytes=int(stats["peak_bytes_in_use"]),
                           current_bytes=int(stats["bytes_in_use"]) if "bytes_in_use" in stats else None,
                           source=MEMORY_SOURCE)

    def runtime_info(self) -> RuntimeInfo:
        return self._info
