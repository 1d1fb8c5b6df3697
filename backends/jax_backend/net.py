"""The network as pure JAX functions: cells stepped by ``lax.scan``, heads and losses.

Imported only from ``JaxBackend.build`` (it imports jax). Every function is
pure and traced under ``jax.jit`` by ``jax_model``; ``cell``, ``head`` and
``loop`` are Python values fixed at trace time. Layers run one after the
other, time-major inside, each one ``lax.scan`` over its steps.

``Loop.hoist`` chooses where the input projection ``x_t @ W_ih`` happens:

- True ("hoisted", the GPU default): once for all T steps, one
  (T*B, I) @ (I, G*H) matmul before the scan, so the scanned step does only
  ``h @ W_hh`` and the gates (the cuDNN recipe): T times fewer, larger GEMMs
  and kernel launches.
- False ("scan", the CPU default; "unroll"): inside each step. Measured on
  XLA:CPU (2-core VM, jax 0.10), the hoisted (T, B, G*H) buffer and its
  cotangent made the IMDB shape (T=500, B=128, H=32) 1.3-1.5x slower
  through fresh-memory page faults and cache misses, and gained nothing at
  H=512.

``Loop.unroll`` is ``lax.scan``'s: that many steps per loop iteration, so
XLA can fuse across steps at the price of a larger program.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax

from .layout import Tree


def matmul_precision(tf32: bool) -> str:
    """The ``jax.default_matmul_precision`` each jitted function traces under.

    True float32 products on every device unless ``tf32``: XLA:GPU's default
    precision may use TF32 (10-bit mantissa) for float32 matmuls, which would
    not compute the reference function within the float32 tolerance; the
    "tf32" precision asks for exactly that. On the CPU both are float32.
    ``_mm`` leaves its precision to this setting, so one switch covers every
    matmul of the forward pass and, through their transposes, of the gradient.
    """
    return "tensorfloat32" if tf32 else "highest"



@dataclass(frozen=True)
class Loop:
    """How each layer is stepped; fixed at trace time."""

    hoist: bool  # the input projection of all steps before the scan (True), or inside each step
    unroll: int = 1  # steps per lax.scan iteration


Carry = Any  # h (B, H), or (h, c) for the LSTM
Step = Callable[[Carry, jax.Array], tuple[Carry, jax.Array | None]]
Project = Callable[[jax.Array], jax.Array]  # a step's scanned input -> x_t @ W_ih + biases, (B, G*H)


def _mm(a: jax.Array, w: jax.Array) -> jax.Array:
    """``a @ w`` over the last axis of ``a`` at the traced ``matmul_precision``."""
    return jnp.matmul(a, w)


def _identity(v: jax.Array) -> jax.Array:
    return v


def _rnn_step(layer: Tree, project: Project, keep: bool) -> Step:
    w_hh = layer["w_hh"]  # (H, H); both biases are in project's output

    def step(h: jax.Array, x_t: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        h = jnp.tanh(project(x_t) + _mm(h, w_hh))  # (B, H)
        return h, h if keep else None

    return step


def _lstm_step(layer: Tree, project: Project, keep: bool) -> Step:
    w_hh = layer["w_hh"]  # (H, 4H); both biases are in project's output

    def step(carry: tuple[jax.Array, jax.Array], x_t: jax.Array) -> tuple[Carry, jax.Array | None]:
        h, c = carry  # (B, H), (B, H)
        gates = project(x_t) + _mm(h, w_hh)  # (B, 4H) in order i, f, g, o
        i, f, g, o = jnp.split(gates, 4, axis=-1)  # 4 x (B, H)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)  # (B, H)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)  # (B, H)
        return (h, c), h if keep else None

    return step


def _gru_step(layer: Tree, project: Project, keep: bool) -> Step:
    w_hh = layer["w_hh"]  # (H, 3H)
    b_hn = layer["b_hh"][2 * w_hh.shape[0]:]  # (H,): r gates it, so it stays in the step (run_layer adds the rest)

    def step(h: jax.Array, x_t: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        x_r, x_z, x_n = jnp.split(project(x_t), 3, axis=-1)  # 3 x (B, H), b_ih and b_hr, b_hz included
        h_r, h_z, h_n = jnp.split(_mm(h, w_hh), 3, axis=-1)  # 3 x (B, H) in order r, z, n
        r = jax.nn.sigmoid(x_r + h_r)  # (B, H)
        z = jax.nn.sigmoid(x_z + h_z)  # (B, H)
        n = jnp.tanh(x_n + r * (h_n + b_hn))  # (B, H)
        h = (1 - z) * n + z * h  # (B, H)
        return h, h if keep else None

    return step


STEPS: dict[str, Callable[[Tree, Project, bool], Step]] = {"rnn": _rnn_step, "lstm": _lstm_step,
                                                           "gru": _gru_step}


def _outside_the_step(cell: str, b_hh: jax.Array) -> jax.Array:
    """The part of b_hh that adds to the input projection: all of it, but the GRU's b_hn (gated by r) is 0.

    Added once to the projection rather than to every step's (B, 3H) recurrent product, as cuDNN and the
    Flax-style tutorial loop do: the same function, one add a step fewer. (The rest of the char_rnn GRU
    gap to the tutorial, 1.06x, was buffer donation on the CPU: ``model.donates``.)
    """
    if cell != "gru":
        return b_hh
    third = b_hh.shape[0] // 3
    return jnp.concatenate([b_hh[:2 * third], jnp.zeros_like(b_hh[2 * third:])])  # (3H,): b_hr, b_hz, 0


def run_layer(cell: str, layer: Tree, xs: jax.Array, keep: bool, loop: Loop,
              carry0: Carry = None) -> tuple[Carry, jax.Array | None]:
    """One recurrent layer over the sequence from ``carry0``, zero states when None: (last carry, all h or None)."""
    _, batch, _ = xs.shape  # (T, B, I)
    w_ih = layer["w_ih"]  # (I, G*H)
    bias = layer["b_ih"] + _outside_the_step(cell, layer["b_hh"])  # (G*H,)
    project: Project
    if loop.hoist:
        scanned = _mm(xs, w_ih) + bias  # (T, B, G*H): every step's input projection at once
        project = _identity  # each scanned slice is already x_t @ W_ih + biases, (B, G*H)
    else:
        scanned = xs  # (T, B, I)

        def project(x_t: jax.Array) -> jax.Array:
            return _mm(x_t, w_ih) + bias  # (B, G*H)
    if carry0 is None:
        h0 = jnp.zeros((batch, layer["w_hh"].shape[0]), bias.dtype)  # (B, H)
        carry0 = (h0, h0) if cell == "lstm" else h0
    return lax.scan(STEPS[cell](layer, project, keep), carry0, scanned, unroll=loop.unroll)  # hs (T, B, H) if kept


def _low(compute: Any, tree: Any) -> Any:
    """Every array of ``tree`` cast to ``compute`` (mixed precision's 16-bit type)."""
    return jax.tree_util.tree_map(lambda a: a.astype(compute), tree)


def forward(cell: str, head: str, loop: Loop, tree: Tree, x: jax.Array, compute: Any = None) -> jax.Array:
    """The head's output, time-major for lm: (T, B, O) logits; (B, O) otherwise.

    ``compute`` (mixed precision, e.g. jnp.bfloat16): the parameters are cast to it for the computation,
    so their gradients flow back to the float32 tree, and the output is cast back to the tree's dtype.
    """
    if compute is not None:
        return forward(cell, head, loop, _low(compute, tree), x).astype(tree["head"]["b"].dtype)
    dtype = tree["head"]["b"].dtype
    if "embedding" in tree:
        xs = tree["embedding"][x.T]  # (T, B, D)
    else:
        xs = jnp.swapaxes(x, 0, 1).astype(dtype)  # (T, B, F)
    last = len(tree["layers"]) - 1
    for k, layer in enumerate(tree["layers"]):
        # Only the lm head, and the layers feeding another layer, need every step's h.
        carry, hs = run_layer(cell, layer, xs, keep=k < last or head == "lm", loop=loop)
        xs = hs
    features = xs if head == "lm" else _top_h(cell, carry)  # (T, B, H) or (B, H)
    return _mm(features, tree["head"]["w"]) + tree["head"]["b"]  # (T, B, O) or (B, O)


def _top_h(cell: str, carry: Carry) -> jax.Array:
    """The h of a layer's carry, (B, H)."""
    return carry[0] if cell == "lstm" else carry


def step(cell: str, loop: Loop, tree: Tree, x: jax.Array, carries: list[Carry], compute: Any = None
         ) -> tuple[jax.Array, list[Carry]]:
    """One step of streaming inference: the head's output (B, O) and each layer's new carry.

    ``x`` is one step, (B,) ids or (B, F); ``carries`` each layer's h (B, H), or (h, c) for the LSTM. Each
    layer runs as in ``forward`` (its loop's scan) on a sequence of one step from its carry. ``compute``:
    as in ``forward``, the carries cast to it as well, and everything returned cast back.
    """
    if compute is not None:
        dtype = tree["head"]["b"].dtype
        out, carries = step(cell, loop, _low(compute, tree), x, _low(compute, carries))
        return out.astype(dtype), jax.tree_util.tree_map(lambda a: a.astype(dtype), carries)
    xs = (tree["embedding"][x] if "embedding" in tree else x.astype(tree["head"]["b"].dtype))[None]  # (1, B, I)
    new = []
    for layer, carry in zip(tree["layers"], carries, strict=True):
        carry, xs = run_layer(cell, layer, xs, keep=True, loop=loop, carry0=carry)  # xs (1, B, H)
        new.append(carry)
    return _mm(xs[0], tree["head"]["w"]) + tree["head"]["b"], new  # (B, O)


def predict(cell: str, head: str, loop: Loop, tree: Tree, x: jax.Array, compute: Any = None) -> jax.Array:
    """The head's output in the batch-first layout: (B, T, O) for lm, (B, O) otherwise."""
    out = forward(cell, head, loop, tree, x, compute)
    return jnp.swapaxes(out, 0, 1) if head == "lm" else out


def loss(cell: str, head: str, loop: Loop, tree: Tree, x: jax.Array, y: jax.Array, compute: Any = None) -> jax.Array:
    """The head's mean loss over the batch (and, for lm, over every step), in the tree's dtype."""
    out = forward(cell, head, loop, tree, x, compute)
    if head == "lm":
        return optax.softmax_cross_entropy_with_integer_labels(out, y.T).mean()  # over T*B tokens
    y = y.astype(out.dtype)  # (B, O)
    if head == "classify":
        return optax.sigmoid_binary_cross_entropy(out, y).mean()  # over B*O logits
    return jnp.mean((out - y) ** 2)  # over B*O values
