"""The torch backend plugin: nn.RNN / nn.LSTM / nn.GRU trained by torch.optim.

Importing this module never imports torch (``rnnbench plugins`` must stay
instant where torch is missing); ``devices``, ``configure`` and ``build``
import the helpers that do:

- ``torch_net``: the nn.Module, its losses and the canonical layout;
- ``torch_optim``: optimisers (fused where torch has the kernel) and clipping;
- ``torch_model``: the Model (train_step, loss_and_grads, predict, ...);
- ``torch_runtime``: threads, denormals, TF32, devices, kernel-path probe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnbench import hookimpl
from rnnbench.backend import Backend, Model, ParitySettings

if TYPE_CHECKING:
    from rnnbench.params import Params
    from rnnbench.spec import ModelSpec, OptimizerSpec


class TorchBackend(Backend):
    name = "torch"
    description = "PyTorch nn.RNN/nn.LSTM/nn.GRU (oneDNN on CPU, cuDNN on GPU)"
    requires = ("torch",)
    framework = "torch"
    install_hint = 'pip install "rnnbench[torch]"'

    def devices(self) -> list[str]:
        from . import runtime as torch_runtime

        return torch_runtime.available_devices()

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        from . import runtime as torch_runtime

        return torch_runtime.configure(settings)

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        from . import runtime as torch_runtime
        from .model import TorchModel

        return TorchModel(spec, params, optimizer, torch_runtime.resolve_device(device))


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [TorchBackend]
