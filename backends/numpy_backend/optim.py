"""Optimisers of the NumPy reference, following ``torch.optim`` exactly.

Updates are in place; every state and scratch array is allocated once, when
the optimiser is made. No weight decay, no dampening, no Nesterov, no amsgrad,
as ``OptimizerSpec`` documents. With g the gradient and t the step number
(from 1):

- adam:    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
           p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
- rmsprop: v = rho v + (1 - rho) g^2;  p -= lr g / (sqrt(v) + eps)
- sgd:     buf = g on the first step, else momentum buf + g;  p -= lr buf
           (with momentum 0: p -= lr g)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from rnnbench.kit import clip_coefficient
from rnnbench.params import Params
from rnnbench.spec import OptimizerSpec


def clip_grad_norm_(grads: Params, max_norm: float) -> float:
    """Scale all gradients by max_norm / (norm + 1e-6) when that is below 1; return the norm before.

    As ``torch.nn.utils.clip_grad_norm_``: the norm is the L2 norm of every
    element of every gradient together.
    """
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    coef = clip_coefficient(norm, max_norm)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return norm


class Optimizer(ABC):
    """Updates parameters in place from gradients, clipping first when the spec says so."""

    slots: int = 0  # state arrays per parameter

    def __init__(self, spec: OptimizerSpec, params: Params) -> None:
        self.spec = spec
        self.steps = 0  # updates taken since the last reset
        self.scratch = {k: np.empty_like(p) for k, p in params.items()}
        self.state = {k: [np.zeros_like(p) for _ in range(self.slots)] for k, p in params.items()}

    def reset(self) -> None:
        """Forget every moment and the step count, as a fresh torch optimiser would."""
        self.steps = 0
        for arrays in self.state.values():
            for a in arrays:
                a.fill(0)

    def step(self, params: Params, grads: Params) -> None:
        """One update of every parameter; ``grads`` may be scaled in place by clipping."""
        if self.spec.clip_norm is not None:
            clip_grad_norm_(grads, self.spec.clip_norm)
        self.steps += 1
        for name, p in params.items():
            self.update(p, grads[name], self.state[name], self.scratch[name])

    @abstractmethod
    def update(self, p: np.ndarray, g: np.ndarray, state: list[np.ndarray], tmp: np.ndarray) -> None:
        """Update one parameter ``p`` from its gradient ``g``; ``tmp`` is scratch of p's shape."""


class Adam(Optimizer):
    slots = 2  # m, v

    def update(self, p: np.ndarray, g: np.ndarray, state: list[np.ndarray], tmp: np.ndarray) -> None:
        s, (m, v) = self.spec, state
        m *= s.beta1
        np.multiply(g, 1 - s.beta1, out=tmp)
        m += tmp  # m = b1 m + (1 - b1) g
        v *= s.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - s.beta2
        v += tmp  # v = b2 v + (1 - b2) g^2
        step_size = s.lr / (1 - s.beta1**self.steps)
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(1 - s.beta2**self.steps)
        tmp += s.eps  # sqrt(v_hat) + eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        p -= tmp


class RMSprop(Optimizer):
    slots = 1  # v

    def update(self, p: np.ndarray, g: np.ndarray, state: list[np.ndarray], tmp: np.ndarray) -> None:
        s, (v,) = self.spec, state
        v *= s.rho
        np.multiply(g, g, out=tmp)
        tmp *= 1 - s.rho
        v += tmp  # v = rho v + (1 - rho) g^2
        np.sqrt(v, out=tmp)
        tmp += s.eps
        np.divide(g, tmp, out=tmp)
        tmp *= s.lr
        p -= tmp


class SGD(Optimizer):
    slots = 1  # momentum buffer

    def update(self, p: np.ndarray, g: np.ndarray, state: list[np.ndarray], tmp: np.ndarray) -> None:
        s, (buf,) = self.spec, state
        if s.momentum == 0:
            direction = g
        elif self.steps == 1:
            np.copyto(buf, g)  # torch starts the buffer at g, not at (1 - dampening) g
            direction = buf
        else:
            buf *= s.momentum
            buf += g
            direction = buf
        np.multiply(direction, s.lr, out=tmp)
        p -= tmp


OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {"adam": Adam, "rmsprop": RMSprop, "sgd": SGD}


def make_optimizer(spec: OptimizerSpec, params: Params) -> Optimizer:
    """The optimiser ``spec`` names, with its state allocated for ``params``."""
    return OPTIMIZER_CLASSES[spec.name](spec, params)
