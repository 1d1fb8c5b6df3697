"""Dynamic loss scaling for float16 autocast (``rnnbench.spec.LOSS_SCALING``), written out: optax has none.

The same rule as torch's GradScaler: gradients of ``loss * scale`` divided by
``scale``; a step with any inf or NaN gradient leaves the parameters and the
optimiser state (its step count too) as they were and halves the scale;
``interval`` finite steps in a row double it. The state is (scale, finite
steps in a row), carried beside optax's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rnnbench.spec import LOSS_SCALING

from .layout import Tree


class ScaleState(NamedTuple):
    scale: jax.Array  # float32 scalar
    finite_steps: jax.Array  # int32 scalar: finite steps since the scale last changed


def initial_state() -> ScaleState:
    return ScaleState(jnp.asarray(LOSS_SCALING.initial, jnp.float32), jnp.asarray(0, jnp.int32))


def scaled_value_and_grad(loss: Callable[..., jax.Array], scale: jax.Array) -> Callable[..., tuple[jax.Array, Tree]]:
    """``loss`` and its gradient, through the backward pass of ``loss * scale``."""
    def value_and_grad(tree: Tree, *args: Any) -> tuple[jax.Array, Tree]:
        scaled, grads = jax.value_and_grad(lambda t: loss(t, *args) * scale)(tree)
        return scaled / scale, jax.tree_util.tree_map(lambda g: g / scale.astype(g.dtype), grads)
    return value_and_grad


def step(tx: optax.GradientTransformation, tree: Tree, inner: optax.OptState, state: ScaleState,
         grads: Tree) -> tuple[Tree, optax.OptState, ScaleState]:
    """One optimiser step with ``grads`` unless one is not finite; the next scale either way."""
    finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
    updates, stepped = tx.update(grads, inner, tree)
    moved = optax.apply_updates(tree, updates)

    def keep(new: Any, old: Any) -> Any:
        return jnp.where(finite, new, old)
    tree, inner = jax.tree_util.tree_map(keep, moved, tree), jax.tree_util.tree_map(keep, stepped, inner)
    counted = jnp.where(finite, state.finite_steps + 1, 0)
    grow = counted >= LOSS_SCALING.interval
    scale = jnp.where(finite, jnp.where(grow, state.scale * LOSS_SCALING.growth, state.scale),
                      state.scale * LOSS_SCALING.backoff)
    return tree, inner, ScaleState(scale, jnp.where(grow, 0, counted).astype(jnp.int32))
