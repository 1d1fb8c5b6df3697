"""An inference-only backend from a third party: it declares ``trains = False`` and nothing in the core
names it. Its "runtime" serves the NumPy reference's outputs and streaming steps from canonical
parameters, so it computes the reference function and passes the check on what it is checked on."""

from __future__ import annotations

import numpy as np

from rnnbench import hookimpl
from rnnbench.backend import Backend, InferenceModel, RuntimeInfo
from rnnbench.backends.numpy_backend import NumpyModel
from rnnbench.params import Params, State
from rnnbench.spec import ModelSpec, OptimizerSpec

UNUSED = OptimizerSpec("sgd", lr=1.0)  # the reference wants one; serving never steps it


class ServedModel(InferenceModel):
    def __init__(self, spec: ModelSpec, params: Params) -> None:
        self._reference = NumpyModel(spec, params, UNUSED)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._reference.predict(x)

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        return self._reference.step(x, state)

    def get_params(self) -> Params:
        return self._reference.get_params()

    def set_params(self, params: Params) -> None:
        self._reference.set_params(params)

    def runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo("serves_only: the NumPy reference's forward pass")


class ServesOnly(Backend):
    name = "serves_only"
    description = "a third party's inference runtime (test plugin)"
    requires = ("numpy",)
    dtypes = ("float32",)
    trains = False

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        self.checked_implementation(device, spec)
        return ServedModel(spec, params)


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [ServesOnly]
