"""A backend that computes the reference's function but trains differently: its learning rate is doubled.

Its forward pass and gradients are the reference's; only the update differs, so
the equal-step check of the accuracy pass must flag it.
"""

from __future__ import annotations

import dataclasses

from rnnbench import hookimpl
from rnnbench.backends.numpy_backend import NumpyBackend


class LearnsDifferentlyBackend(NumpyBackend):
    name = "learns_differently"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        return super().build(spec, params, dataclasses.replace(optimizer, lr=optimizer.lr * 2), device)


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [LearnsDifferentlyBackend]
