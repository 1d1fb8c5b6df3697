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

from typing import TYPE_CHECKING, Any

from rnnbench import hookimpl
from rnnbench.backend import Backend, Model, ParitySettings

if TYPE_CHECKING:
    import pandas as pd

    from rnnbench.params import Params
    from rnnbench.report.section import ReportSection
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


# Output hooks: what a plugin adds to the machine's description and to every report, with no core edit.


@hookimpl
def rnnbench_update_machine_info(info: dict[str, Any]) -> None:
    """The CPU's vector extensions, which decide the kernels PyTorch's CPU backend picks (read from
    /proc/cpuinfo, so no framework is imported to describe the machine)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return
    info["cpu_vector_extensions"] = sorted(f for f in set(flags) if f.startswith(("avx", "fma", "amx", "sse4")))


@hookimpl
def rnnbench_report_sections(frame: pd.DataFrame) -> list[ReportSection]:
    """Where torchloop ran: its Python step loop beside torch's fused kernels, per task and cell."""
    if "torchloop" not in set(frame.backend):
        return []
    from rnnbench.report.section import ReportSection

    rows = frame[frame.backend.isin(["torchloop", "torch"]) & (frame["mode"] == "throughput")]
    speed = rows.groupby(["task", "cell", "backend"])["train_samples_per_s"].median().unstack("backend")
    if "torch" not in speed or "torchloop" not in speed:
        return []
    table = tuple((task, cell, f"{loop / fused:.2f}x") for (task, cell), loop, fused
                  in zip(speed.index, speed["torchloop"], speed["torch"], strict=True))
    return [ReportSection("torchloop beside torch", "Training speed of the Python step loop over torch's own "
                          "layers (median samples/s; 1.00x: as fast).", ("task", "cell", "torchloop / torch"),
                          table)]
