"""torch.optim optimisers from an ``OptimizerSpec``, every hyperparameter explicit; torch-rule clipping.

Imported only from ``TorchLoopBackend.build``: this module imports torch.
"""

from __future__ import annotations

import torch

from rnnbench.kit import clip_coefficient
from rnnbench.spec import OptimizerSpec


def make_optimizer(params: list[torch.Tensor], spec: OptimizerSpec) -> torch.optim.Optimizer:
    """The torch.optim rule that ``OptimizerSpec`` names (its update rules are torch's)."""
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, weight_decay=0.0)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=spec.rho, eps=spec.eps, weight_decay=0.0,
                                   momentum=0.0, centered=False)
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, dampening=0.0, weight_decay=0.0)


def clip_(params: list[torch.Tensor], clip_norm: float) -> None:
    """Scale every gradient by the coefficient of ``rnnbench.kit.clip_coefficient``, on the device."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.sqrt(sum((g * g).sum() for g in grads))  # the global L2 norm, a 0-d tensor
    coef = clip_coefficient(norm, clip_norm, torch.clamp_max)  # never read back to the host
    for g in grads:
        g.mul_(coef)
