"""``torchloop``: an example third-party backend, the RNN cells written out step by step in PyTorch.

A skeleton of a real framework backend, with the file roles of rnnbench's
built-in backends (``rnnbench.backends.<name>_backend``), so it is the folder
to copy when adding a framework:

- ``__init__`` (this module): the ``Backend`` class and the plugin hook;
  importing it imports no framework (``rnnbench plugins`` stays instant);
- ``runtime``: importing the framework, its devices, ``configure``;
- ``layout``: the canonical parameters <-> the framework's own layout;
- ``net``: the network in the framework (here: a loop over time steps);
- ``optim``: the optimiser of an ``OptimizerSpec`` and global-norm clipping;
- ``model``: the ``Model`` the core drives (train_step, loss_and_grads, ...).

What every backend needs besides comes from ``rnnbench.kit`` (device names,
input dtypes per head, the clipping rule); the core checks each case's
batches against the data contract, so no backend repeats that check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnbench import hookimpl
from rnnbench.backend import Backend, Model, ParitySettings

if TYPE_CHECKING:
    from rnnbench.params import Params
    from rnnbench.spec import ModelSpec, OptimizerSpec


class TorchLoopBackend(Backend):
    name = "torchloop"
    description = "Example plugin: RNN cells written out step by step in PyTorch, trained by torch.optim"
    requires = ("torch",)  # checked without importing torch
    framework = "torch"  # the distribution whose version is reported
    install_hint = "pip install -e examples/rnnbench-example-plugin torch"

    def devices(self) -> list[str]:
        from . import runtime  # imports torch: only now that devices are asked for

        return runtime.devices()

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        from . import runtime

        return runtime.configure(settings)

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        from . import runtime
        from .model import TorchLoopModel

        return TorchLoopModel(spec, params, optimizer, runtime.resolve(device))


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [TorchLoopBackend]
