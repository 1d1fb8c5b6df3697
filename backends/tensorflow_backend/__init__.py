"""The tensorflow backend plugin: Keras 3 layers in a compiled TensorFlow training step.

Importing this module imports neither TensorFlow nor Keras; ``devices``,
``configure`` and ``build`` import them on first use.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING

from rnnbench import hookimpl
from rnnbench.backend import Backend, ParitySettings, installed_versions
from rnnbench.errors import UsageError

if TYPE_CHECKING:
    from rnnbench.backend import Model
    from rnnbench.params import Params
    from rnnbench.spec import ModelSpec, OptimizerSpec

# Distributions that install the ``tensorflow`` module, most common first.
TF_DISTRIBUTIONS: tuple[str, ...] = (
    "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tensorflow-intel",
    "tf-nightly", "tf-nightly-cpu",
)


class TensorflowBackend(Backend):
    name = "tensorflow"
    description = "TensorFlow/Keras 3 SimpleRNN/LSTM/GRU in a compiled training step"
    requires = ("tensorflow", "keras")
    framework = "tensorflow"
    install_hint = 'pip install "rnnbench[tensorflow]"'

    def versions(self) -> dict[str, str]:
        """The installed TensorFlow distribution (tensorflow, tensorflow-cpu, ...) and Keras."""
        found = installed_versions(TF_DISTRIBUTIONS)
        if not found:  # another build (intel-tensorflow, ...): ask which distribution ships the module (slower)
            found = installed_versions(importlib.metadata.packages_distributions().get("tensorflow", []))
        return found | installed_versions(("keras",))

    def devices(self) -> list[str]:
        from . import runtime

        return ["cpu", *runtime.gpu_names()]

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        from . import runtime

        return runtime.configure(settings)

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        from . import runtime

        accepted = self.devices()
        if device not in accepted:
            raise UsageError(f"device {device!r} is not available to tensorflow. Accepted: {', '.join(accepted)}")
        settings = runtime.model_settings(device)  # GPU memory growth: before Keras starts the GPUs
        from .model import TensorflowModel

        return TensorflowModel(spec, params, optimizer, device, runtime.use_xla(spec, device), settings)


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [TensorflowBackend]
