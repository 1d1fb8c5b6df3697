"""A backend that trains, from a third party, with an export path: "served" (``Implementation.trains``
False) serves the NumPy reference's outputs and streaming steps from an inference-only model, as a
framework's exported artifact would; "reference" trains. Nothing in the core names it."""

from __future__ import annotations

from serves_only import ServedModel

from rnnbench import hookimpl
from rnnbench.backend import Backend, Implementation, InferenceModel
from rnnbench.backends.numpy_backend import NumpyBackend
from rnnbench.params import Params
from rnnbench.spec import ModelSpec, OptimizerSpec

SERVED = Implementation("served", "the reference's forward pass, exported (test plugin)", ("cpu",), trains=False)


class ExportsToo(NumpyBackend):
    name = "exports_too"
    description = "a third party's backend that trains and exports (test plugin)"

    def implementations(self) -> tuple[Implementation, ...]:
        return (SERVED, Implementation("reference", "the NumPy reference, trained", ("cpu",)))  # export first

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        if self.checked_implementation(device, spec) == SERVED.name:
            return ServedModel(spec, params)
        return super().build(spec, params, optimizer, device)


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [ExportsToo]
