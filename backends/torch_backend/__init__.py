"""The torch backend plugin: nn.RNN / nn.LSTM / nn.GRU trained by torch.optim.

Importing this module never imports torch (``rnnbench plugins`` must stay
instant where torch is missing); ``devices``, ``configure`` and ``build``
import the helpers that do:

- ``torch_net``: the nn.Module, its losses and the canonical layout;
- ``torch_optim``: optimisers (fused where torch has the kernel) and clipping;
- ``torch_model``: the Model (train_step, loss_and_grads, predict, ...);
- ``torch_export``: the "aoti" export path's InferenceModel;
- ``torch_runtime``: threads, denormals, TF32, devices, kernel-path probe.

Four implementations compute the same network: "fused" (the nn layers,
the default everywhere), "loop" (the cells stepped in Python), "compiled"
(that loop under ``torch.compile``) and "aoti", an export path that does
not train (``Implementation.trains`` False): the fused network exported
with ``torch.export``, compiled and packaged by AOTInductor, loaded back
and called, on the CPU, in float32 and float64. Whether "compiled" and
"aoti" can run is read from the tools inductor needs (a C++ compiler on the
CPU; Triton and a C compiler on a GPU), without importing torch.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import TYPE_CHECKING

from rnnbench import hookimpl
from rnnbench.backend import Backend, Implementation, InferenceModel, ParitySettings, device_kind
from rnnbench.errors import UsageError

if TYPE_CHECKING:
    import torch

    from rnnbench.params import Params
    from rnnbench.spec import ModelSpec, OptimizerSpec

FUSED = Implementation("fused", "nn.RNN/nn.LSTM/nn.GRU layers: cuDNN on a GPU; on the CPU oneDNN for float32 "
                       "LSTM, ATen's C++ cell loop for GRU, RNN and float64")
LOOP = Implementation("loop", "the cells stepped in Python (one input matmul per layer, then h @ W_hh and "
                      "the gates per step), eager autograd")
AOTI = "aoti"
AOTI_DESCRIPTION = ("predict and the streaming step of the fused network each exported (torch.export), compiled "
                    "and packaged by AOTInductor (.pt2), loaded back (aoti_load_package) and called; one package "
                    "per sequence length, any batch size")
AOTI_PRECISIONS = ("float32", "float64")
COMPILED_DESCRIPTION = ("the step loop under torch.compile (inductor, fullgraph): the unrolled steps fused "
                        "into generated kernels; compile time grows with the sequence length")


def compile_blockers() -> dict[str, str]:
    """Why torch.compile cannot run on a device kind here, for each kind where it cannot."""
    cxx = os.environ.get("CXX", "g++")  # inductor's C++ compiler for the CPU (torch._inductor.config.cpp.cxx)
    cc = os.environ.get("CC", "gcc")  # Triton builds its kernel launcher with a C compiler
    blockers = {}
    if shutil.which(cxx) is None:
        blockers["cpu"] = f"the C++ compiler {cxx!r} is not on PATH"
    if importlib.util.find_spec("triton") is None:
        blockers["gpu"] = "Triton is not installed"
    elif shutil.which(cc) is None:
        blockers["gpu"] = f"the C compiler {cc!r} is not on PATH"
    return blockers


def compiled_implementation() -> Implementation:
    """"compiled", on the device kinds whose inductor toolchain is installed here, saying what is missing."""
    blockers = compile_blockers()
    notes = "; ".join(f"not on {kind}: {why}" for kind, why in blockers.items())
    devices = tuple(kind for kind in ("cpu", "gpu") if kind not in blockers)
    return Implementation("compiled", COMPILED_DESCRIPTION + (f" ({notes})" if notes else ""), devices)


def aoti_implementation() -> Implementation:
    """"aoti", on the CPU where inductor's C++ compiler is installed, else nowhere, saying what is missing."""
    blocker = compile_blockers().get("cpu")
    note = f" (not on cpu: {blocker})" if blocker else ""
    return Implementation(AOTI, AOTI_DESCRIPTION + note, () if blocker else ("cpu",), trains=False)


class TorchBackend(Backend):
    name = "torch"
    description = "PyTorch nn.RNN/nn.LSTM/nn.GRU (oneDNN on CPU, cuDNN on GPU)"
    requires = ("torch",)
    framework = "torch"
    install_hint = 'pip install "rnnbench[torch]"'
    dtypes = ("float32", "float64", "mixed_bfloat16", "mixed_float16", "tf32")  # tf32: on CUDA devices only

    def devices(self) -> list[str]:
        from . import runtime as torch_runtime

        return torch_runtime.available_devices()

    def flushes_denormals(self, device: str) -> bool:
        return device == "cpu"  # torch.set_flush_denormal sets the CPU's FTZ/DAZ; CUDA kernels as compiled

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        from . import runtime as torch_runtime

        return torch_runtime.configure(settings)

    def implementations(self) -> tuple[Implementation, ...]:
        return (FUSED, LOOP, compiled_implementation(), aoti_implementation())

    def default_implementation(self, device: str, spec: ModelSpec | None = None) -> str:
        if spec is not None and _no_fused_kernel(device, spec):
            return LOOP.name
        return super().default_implementation(device, spec)

    def default_rule(self, device: str) -> str:
        if device_kind(device) == "cpu":
            return "fused, but loop for a float16 lstm (oneDNN has no float16 LSTM on the CPU)"
        return super().default_rule(device)

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        from . import runtime as torch_runtime
        from .model import TorchModel

        torch_device = torch_runtime.resolve_device(device)
        implementation = self.checked_implementation(device, spec)
        if implementation == AOTI:
            return _aoti_model(spec, params, torch_device)
        if implementation == FUSED.name and _no_fused_kernel(device, spec):
            raise UsageError("Implementation 'fused' of backend 'torch' has no float16 LSTM on the CPU (oneDNN "
                             "cannot create it). Accepted: loop or compiled there, or fused on a GPU (cuDNN)")
        return TorchModel(spec, params, optimizer, torch_device, implementation)


def _aoti_model(spec: ModelSpec, params: Params, device: torch.device) -> InferenceModel:
    """The "aoti" export path's model; UsageError for a precision it does not compute."""
    if spec.precision not in AOTI_PRECISIONS:
        raise UsageError(f"Implementation 'aoti' of backend 'torch' does not compute {spec.precision}. "
                         f"Accepted: {', '.join(AOTI_PRECISIONS)}")
    from .export import AotiModel

    return AotiModel(spec, params, device)


def _no_fused_kernel(device: str, spec: ModelSpec) -> bool:
    """oneDNN, torch's CPU kernel for nn.LSTM, refuses float16 (checked: torch 2.13, AMD EPYC)."""
    return device_kind(device) == "cpu" and spec.autocast == "float16" and spec.cell == "lstm"


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [TorchBackend]
