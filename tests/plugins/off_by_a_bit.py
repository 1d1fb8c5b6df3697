"""A subtly wrong backend: the NumPy reference with gradients 1e-5 too large.

Conformance must catch an error this small in float64.
"""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backends.numpy_backend import NumpyBackend


class OffByABitBackend(NumpyBackend):
    name = "off_by_a_bit"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        model = super().build(spec, params, optimizer, device)
        exact = model.loss_and_grads

        def loss_and_grads(x, y):  # type: ignore[no-untyped-def]
            loss, grads = exact(x, y)
            return loss, {name: grad * (1 + 1e-5) for name, grad in grads.items()}

        model.loss_and_grads = loss_and_grads  # type: ignore[method-assign]
        return model


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [OffByABitBackend]
