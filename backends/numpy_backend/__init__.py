"""The NumPy reference backend: plain NumPy forward, hand-written BPTT.

Every other backend is tested against this one, so it favours exactness
first, then speed: BLAS does the matmuls (one per layer for the inputs of all
steps, one per step for the recurrence), everything else runs in place in
buffers allocated once per batch shape. The numerics live in ``cells``
(layers), ``heads`` (inputs, heads, losses) and ``optim`` (optimisers);
``model`` wires them into a ``Model``, ``runtime`` sets the BLAS threads.
The canonical layout is NumPy's own, so there is no layout module.
"""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backend import Backend, Implementation, Model, ParitySettings
from rnnbench.errors import UsageError
from rnnbench.params import Params
from rnnbench.spec import ModelSpec, OptimizerSpec

from . import runtime
from .model import IMPLEMENTATION, NumpyModel

__all__ = ["NumpyBackend", "NumpyModel", "rnnbench_register_backends"]


class NumpyBackend(Backend):
    """The reference: plain NumPy, float32 and float64, on the CPU."""

    name = "numpy"
    description = "NumPy reference: BLAS matmuls and hand-written backpropagation through time"
    requires = ("numpy",)
    framework = "numpy"
    install_hint = 'pip install "rnnbench"'

    def flushes_denormals(self, device: str) -> bool:
        return False  # NumPy has no switch: denormals are kept

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        return runtime.configure(settings)

    def implementations(self) -> tuple[Implementation, ...]:
        return (Implementation(IMPLEMENTATION, "BLAS matmuls and hand-written BPTT, the function every "
                               "other implementation is checked against", devices=("cpu",)),)

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        if device != "cpu":
            raise UsageError(f"Device {device!r} is not supported by the numpy backend. Accepted: cpu")
        self.checked_implementation(device, spec)  # "reference", the only one
        return NumpyModel(spec, params, optimizer)


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [NumpyBackend]
