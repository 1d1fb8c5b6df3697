"""optax transformations that follow the documented PyTorch update rules exactly.

Every hyperparameter is passed explicitly, never left to an optax default:

- adam: ``optax.adam(eps_root=0)`` is torch's Adam: bias-corrected moments,
  eps added to sqrt(v_hat).
- rmsprop: optax's default puts eps inside the square root; torch adds it to
  sqrt(v), so ``eps_in_sqrt=False``; ``initial_scale=0`` as torch starts v at 0.
- sgd: optax's ``trace`` (t = g + momentum * t) is torch's momentum buffer;
  with momentum 0 there is no buffer, as in torch.
- clipping: ``optax.clip_by_global_norm`` scales by clip_norm / norm when
  norm > clip_norm; torch's ``clip_grad_norm_`` scales by
  clip_norm / (norm + 1e-6) whenever that is below 1, so ``clip_like_torch``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rnnbench.kit import clip_coefficient
from rnnbench.spec import OptimizerSpec


def clip_like_torch(clip_norm: float) -> optax.GradientTransformation:
    """Global-norm clipping as ``torch.nn.utils.clip_grad_norm_`` does it."""

    def init(params: optax.Params) -> optax.EmptyState:
        del params
        return optax.EmptyState()

    def update(updates: optax.Updates, state: optax.EmptyState,
               params: optax.Params | None = None) -> tuple[optax.Updates, optax.EmptyState]:
        del params
        norm = optax.tree.norm(updates, ord=2)  # sqrt of the sum of squares over every leaf
        coef = clip_coefficient(norm, clip_norm, jnp.minimum)  # torch clamps at 1: no-op when small
        return jax.tree.map(lambda g: g * coef.astype(g.dtype), updates), state

    return optax.GradientTransformation(init, update)


def _rule(spec: OptimizerSpec) -> optax.GradientTransformation:
    if spec.name == "adam":
        return optax.adam(learning_rate=spec.lr, b1=spec.beta1, b2=spec.beta2, eps=spec.eps,
                          eps_root=0.0, mu_dtype=None, nesterov=False)
    if spec.name == "rmsprop":
        return optax.rmsprop(learning_rate=spec.lr, decay=spec.rho, eps=spec.eps, initial_scale=0.0,
                             eps_in_sqrt=False, centered=False, momentum=None, nesterov=False,
                             bias_correction=False)
    # sgd; momentum=None (no buffer) for plain SGD, as torch keeps none either.
    return optax.sgd(learning_rate=spec.lr, momentum=spec.momentum or None, nesterov=False,
                     accumulator_dtype=None)


def make_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    """The optax transformation of ``spec``: torch-style clipping (when set), then the rule."""
    rule = _rule(spec)
    if spec.clip_norm is None:
        return rule
    return optax.chain(clip_like_torch(spec.clip_norm), rule)
