"""The documented PyTorch update rules (rnnbench/spec.py), as TensorFlow ops.

Keras' own optimisers place eps differently (Adam adds it to sqrt(v) before
bias correction, RMSprop inside the sqrt) and clip without torch's 1e-6, so
the rules are written here and called from the compiled training step.

Adam and SGD use TensorFlow's fused training kernels (the ones tf.keras 2
optimisers ran). ``ResourceApplyAdam`` computes
``var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps')``; with
``eps' = eps * sqrt(1 - b2^t)`` that is exactly torch's
``lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``. RMSprop has no
fused kernel with torch's rule, so it is three element-wise ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from rnnbench.kit import clip_coefficient
from rnnbench.spec import OptimizerSpec


class TorchRuleOptimizer:
    """Updates ``variables`` in place by one of the documented rules.

    Slots are created eagerly in ``__init__`` (on the current device scope),
    so ``apply`` can run inside a ``tf.function`` without creating variables.
    """

    def __init__(self, spec: OptimizerSpec, variables: Sequence[tf.Variable]) -> None:
        self.spec = spec
        self.variables = list(variables)
        self.dtype = self.variables[0].dtype  # every parameter shares the model's dtype
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.slots: dict[str, list[tf.Variable]] = {name: self._zeros(name) for name in self._slot_names()}

    def _slot_names(self) -> tuple[str, ...]:
        if self.spec.name == "adam":
            return ("m", "v")
        if self.spec.name == "rmsprop":
            return ("square_avg",)
        return ("momentum",) if self.spec.momentum > 0 else ()

    def _zeros(self, name: str) -> list[tf.Variable]:
        return [tf.Variable(tf.zeros_like(v), trainable=False, name=name) for v in self.variables]

    def reset(self) -> None:
        """Forget all state, as a freshly built torch optimiser would."""
        self.step.assign(0)
        for slots in self.slots.values():
            for slot in slots:
                slot.assign(tf.zeros_like(slot))

    def apply(self, grads: Sequence[tf.Tensor]) -> None:
        """Clip ``grads`` (if the spec says so), then take one step."""
        dense = [tf.convert_to_tensor(g) for g in grads]  # embedding IndexedSlices -> dense (V, D)
        if self.spec.clip_norm is not None:
            dense = self._clip(dense)
        self.step.assign_add(1)
        if self.spec.name == "adam":
            self._adam(dense)
        elif self.spec.name == "rmsprop":
            self._rmsprop(dense)
        else:
            self._sgd(dense)

    def _clip(self, grads: list[tf.Tensor]) -> list[tf.Tensor]:
        """torch's clip_grad_norm_: scale by clip / (norm + 1e-6), capped at 1."""
        squares = [tf.reduce_sum(tf.square(g)) for g in grads]
        norm = tf.sqrt(tf.add_n(squares))
        coef = clip_coefficient(norm, self.spec.clip_norm, tf.minimum)
        return [g * coef for g in grads]

    def _cast(self, value: float | tf.Tensor) -> tf.Tensor:
        if tf.is_tensor(value):
            return tf.cast(value, self.dtype)
        return tf.constant(value, self.dtype)  # tf.cast(0.999, float64) would round through float32

    def _adam(self, grads: list[tf.Tensor]) -> None:
        s = self.spec
        t = tf.cast(self.step, tf.float64)
        b1_power, b2_power = s.beta1**t, s.beta2**t  # float64 scalars, as torch's Python floats
        eps_hat = s.eps * tf.sqrt(1.0 - b2_power)
        c = self._cast
        for var, g, m, v in zip(self.variables, grads, self.slots["m"], self.slots["v"], strict=True):
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=m.handle, v=v.handle, beta1_power=c(b1_power), beta2_power=c(b2_power),
                lr=c(s.lr), beta1=c(s.beta1), beta2=c(s.beta2), epsilon=c(eps_hat), grad=g,
            )

    def _rmsprop(self, grads: list[tf.Tensor]) -> None:
        s = self.spec
        for var, g, sq in zip(self.variables, grads, self.slots["square_avg"], strict=True):
            sq.assign(s.rho * sq + (1.0 - s.rho) * tf.square(g))
            var.assign_sub(s.lr * g / (tf.sqrt(sq) + s.eps))

    def _sgd(self, grads: list[tf.Tensor]) -> None:
        s = self.spec
        if s.momentum == 0:
            for var, g in zip(self.variables, grads, strict=True):
                tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=self._cast(s.lr), delta=g)
            return
        c = self._cast
        for var, g, buf in zip(self.variables, grads, self.slots["momentum"], strict=True):
            # accum = momentum * accum + g; var -= lr * accum  (torch, dampening 0, no Nesterov)
            tf.raw_ops.ResourceApplyMomentum(
                var=var.handle, accum=buf.handle, lr=c(s.lr), grad=g, momentum=c(s.momentum),
            )
