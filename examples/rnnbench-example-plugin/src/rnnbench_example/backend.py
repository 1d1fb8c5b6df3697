"""``numpy64``: the NumPy reference run in float64, results cast to the spec's dtype."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rnnbench.backend import Backend, Model, RuntimeInfo
from rnnbench.backends.numpy_backend import NumpyBackend
from rnnbench.params import Params, copy_params
from rnnbench.spec import ModelSpec, OptimizerSpec


class Numpy64Model(Model):
    """Delegates to a float64 reference model; converts at the boundary."""

    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str) -> None:
        self.dtype = spec.dtype
        wide = replace(spec, dtype="float64")
        self.inner = NumpyBackend().build(wide, copy_params(params, "float64"), optimizer, device)

    def _wide(self, x: np.ndarray) -> np.ndarray:
        # Token ids stay integers; dense inputs are widened like the weights.
        return x if np.issubdtype(x.dtype, np.integer) else x.astype(np.float64)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.inner.train_step(self._wide(x), self._wide(y))

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        loss, grads = self.inner.loss_and_grads(self._wide(x), self._wide(y))
        return loss, copy_params(grads, self.dtype)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.inner.predict(self._wide(x)).astype(self.dtype)

    def get_params(self) -> Params:
        return copy_params(self.inner.get_params(), self.dtype)

    def set_params(self, params: Params) -> None:
        self.inner.set_params(copy_params(params, "float64"))

    def runtime_info(self) -> RuntimeInfo:
        inner = self.inner.runtime_info()
        return RuntimeInfo(f"{inner.kernel_path}, computed in float64", inner.settings)


class Numpy64Backend(Backend):
    name = "numpy64"
    description = "Example plugin: the NumPy reference computed in float64, cast back"
    requires = ("numpy",)
    framework = "numpy"
    install_hint = "pip install -e examples/rnnbench-example-plugin"

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        return Numpy64Model(spec, params, optimizer, device)
