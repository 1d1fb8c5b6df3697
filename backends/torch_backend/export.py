"""AotiModel: the torch network as a deployment artifact, exported, compiled ahead of time and loaded back.

Imported only from ``TorchBackend.build``: this module imports torch.

The "aoti" implementation is an export path (``Implementation.trains``
False). The fused ``RnnNet`` (the "fused" implementation's network, the
canonical parameters loaded by ``layout.load_canonical``) is exported with
``torch.export.export``, compiled and packaged by AOTInductor
(``torch._inductor.aoti_compile_and_package``) into a .pt2 file in a
temporary directory the model owns, and loaded back with
``torch._inductor.aoti_load_package``; only the loaded package computes what
``predict`` (``RnnNet.forward``) and ``step`` (``RnnNet.step``) return.

Each package is made on the first call that needs it, so that call carries
the cost. The batch dimension is symbolic (``torch.export.Dim``): one package
serves every batch size. The sequence length is not: tracing the recurrent
op unrolls its steps, and torch.export refuses a Dim on T (checked, torch
2.13), so predict keeps one package per T and step, always one step, one
package. Parameters are baked into each package as constants; ``set_params``
drops the packages and the next call exports again. (A loaded package's
``load_constants`` would swap weights without a compile, but not every
parameter is a loadable constant: ``get_constant_fqns`` lists no head bias.)
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import warnings
import weakref
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnbench.backend import InferenceModel, RuntimeInfo
from rnnbench.kit import model_inputs
from rnnbench.params import Params, State, check_params, copy_params, zero_state
from rnnbench.spec import ModelSpec

from . import AOTI, runtime
from .layout import from_hx, load_canonical, to_hx
from .model import CELL_CLASSES
from .net import TORCH_DTYPES, RnnNet

STEP = "step"  # the step package's key; predict's are "predict-T<steps>"
# torch.export specialises a dimension whose example size is 0 or 1, so the examples have a batch of 2.
EXAMPLE_BATCH = 2
BATCH = torch.export.Dim("batch")
EXPORT_SETTING = ("torch.export.export (non-strict, under no_grad, batch a torch.export.Dim, T static) -> "
                  "torch._inductor.aoti_compile_and_package (.pt2 in a temporary directory) -> "
                  "torch._inductor.aoti_load_package; parameters baked in as constants, exported again after "
                  "set_params")
ONEDNN_OP = "mkldnn_rnn_layer"  # the oneDNN LSTM kernel, as the package's C++ wrapper calls it


@dataclass(frozen=True)
class Package:
    """One exported, compiled, packaged and loaded artifact."""

    path: Path  # the .pt2 file
    runner: Any  # the torch.export.pt2_archive AOTICompiledModel that aoti_load_package returned
    seconds: float  # export + compile and package + load, perf_counter
    kernel: str  # the recurrent kernel the package calls, read from its C++ wrapper


class StreamingStep(nn.Module):
    """``RnnNet.step`` as a module's forward, the form torch.export takes."""

    def __init__(self, net: RnnNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, hx: Any) -> tuple[torch.Tensor, Any]:
        return self.net.step(x, hx)  # (B, O) and the new states


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence three warnings of torch's own making that an export path always triggers, each by its message:
    they say nothing about this network, and pytest's filterwarnings = error would fail every export on them."""
    with warnings.catch_warnings():
        # nn.RNNBase refreshes its _flat_weights list while export swaps in fake parameters.
        warnings.filterwarnings("ignore", r"The tensor attributes .*_flat_weights", UserWarning)
        # Inductor imports torch.utils.mkldnn, which uses torch.jit.script_method (deprecated in torch 2.13).
        warnings.filterwarnings("ignore", r"`torch\.jit\.script_method` is deprecated", DeprecationWarning)
        # Packaging pickles the call spec with pytree's own deprecated LeafSpec.
        warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
        yield


@contextlib.contextmanager
def _legacy_cudnn_flags() -> Iterator[None]:
    """cuDNN's TF32 flags at torch's defaults while exporting, then as they were.

    torch.export reads them through the legacy ``allow_tf32`` getter, which raises unless cuDNN's conv and RNN
    precisions are both "tf32" (checked, torch 2.13); every run turns TF32 off through the new API
    (``runtime.float32_matmuls``). cuDNN computes nothing on the CPU, where this implementation runs."""
    cudnn = torch.backends.cudnn
    saved = cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision  # type: ignore[attr-defined]
    cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = "tf32"  # type: ignore[attr-defined]
    try:
        yield
    finally:
        cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision = saved  # type: ignore[attr-defined]


def export_package(module: nn.Module, args: tuple[Any, ...], dynamic_shapes: tuple[Any, ...], path: Path
                   ) -> Package:
    """``module`` exported on the example ``args``, compiled and packaged to ``path``, and loaded back."""
    start = time.perf_counter()
    with _quiet_export(), _legacy_cudnn_flags(), torch.no_grad():
        program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes)
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))
        runner = torch._inductor.aoti_load_package(str(path))
    return Package(path, runner, time.perf_counter() - start, package_kernel(path))


def package_kernel(path: Path) -> str:
    """Which recurrent kernel a package calls, read from the C++ wrapper AOTInductor packs in it."""
    with zipfile.ZipFile(path) as archive:
        wrappers = [name for name in archive.namelist() if name.endswith(".wrapper.cpp")]
        if not wrappers:
            return "unknown (no C++ wrapper in the package)"
        if any(ONEDNN_OP in archive.read(name).decode() for name in wrappers):
            return f"oneDNN fused kernel ({ONEDNN_OP}, called from the package)"
    return "none: inductor's per-step matmuls and generated C++ kernels (the recurrent op decomposed)"


class AotiModel(InferenceModel):
    """The common network computed by AOTInductor packages of its export; parameters kept canonical."""

    def __init__(self, spec: ModelSpec, params: Params, device: torch.device) -> None:
        self.spec, self.device, self.dtype = spec, device, TORCH_DTYPES[spec.dtype]
        self.net = RnnNet(spec).to(device=device, dtype=self.dtype).eval()  # exported, never called here
        self._directory = Path(tempfile.mkdtemp(prefix="rnnbench-aoti-"))
        # Removed with the model; a finalizer, as TemporaryDirectory's warns (ResourceWarning) when left to one.
        weakref.finalize(self, shutil.rmtree, self._directory, ignore_errors=True)
        self._packages: dict[str, Package] = {}  # STEP or "predict-T<steps>" -> its loaded package
        self.set_params(params)

    # ---- the packages ----------------------------------------------------------------

    def _example_x(self, steps: int) -> torch.Tensor:
        """Zeros shaped as the input: ids (2, T) or features (2, T, F)."""
        if self.spec.embedded:
            return torch.zeros(EXAMPLE_BATCH, steps, dtype=torch.int64, device=self.device)
        return torch.zeros(EXAMPLE_BATCH, steps, int(self.spec.input_features), dtype=self.dtype,  # type: ignore[arg-type]
                           device=self.device)

    def _predict_package(self, steps: int) -> Package:
        key = f"predict-T{steps}"
        if key not in self._packages:
            self._packages[key] = export_package(self.net, (self._example_x(steps),), ({0: BATCH},),
                                                 self._path(key))
        return self._packages[key]

    def _step_package(self) -> Package:
        if STEP not in self._packages:
            # to_hx makes h and c two tensors: export would take one input for both were they one object.
            hx = to_hx(self.spec, zero_state(self.spec, EXAMPLE_BATCH), self.dtype, self.device)  # (L, 2, H)
            hx_shapes = ({1: BATCH}, {1: BATCH}) if self.spec.cell == "lstm" else {1: BATCH}
            self._packages[STEP] = export_package(StreamingStep(self.net).eval(), (self._example_x(1), hx),
                                                  ({0: BATCH}, hx_shapes), self._path(STEP))
        return self._packages[STEP]

    def _path(self, key: str) -> Path:
        return self._directory / f"{key}.pt2"

    # ---- InferenceModel ----------------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        (array,) = model_inputs(self.spec, x)  # ids int64 (B, T) or features (B, T, F)
        runner = self._predict_package(array.shape[1]).runner
        with torch.inference_mode():
            out = runner(torch.from_numpy(array))  # (B, T, O) or (B, O)
        return out.numpy().copy()

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        (array,) = model_inputs(self.spec, np.asarray(x)[:, None])  # (B, 1) or (B, 1, F)
        runner = self._step_package().runner
        with torch.inference_mode():
            out, hx = runner(torch.from_numpy(array), to_hx(self.spec, state, self.dtype, self.device))
        return out.numpy().copy(), from_hx(self.spec, hx, self.dtype)  # (B, O), the new state

    def get_params(self) -> Params:
        return copy_params(self._params)

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        self._params = copy_params(params, self.spec.dtype)
        load_canonical(self.net, self.spec, self._params)
        for package in self._packages.values():  # baked with the old parameters: made again when next needed
            package.path.unlink(missing_ok=True)
        self._packages.clear()

    def runtime_info(self) -> RuntimeInfo:
        path = (f"torch.export of the torch {CELL_CLASSES[self.spec.cell]} network, compiled and packaged by "
                f"AOTInductor (.pt2), loaded by torch._inductor.aoti_load_package and called "
                f"({self.device}, {self.spec.precision})")
        settings = runtime.current_settings()
        settings.update({
            "implementation": AOTI,
            "compile": "AOTInductor, ahead of time (aoti_compile_and_package); no torch.compile",
            "export": EXPORT_SETTING + self._exported(),
            "fused_kernel": "; ".join(sorted({p.kernel for p in self._packages.values()})) or "not exported yet",
            "device": str(self.device),
            "autocast": "none",
        })
        return RuntimeInfo(kernel_path=path, settings=settings)

    def _exported(self) -> str:
        """The packages made so far and the seconds each took, e.g. "; exported: predict-T24 9.81 s"."""
        if not self._packages:
            return "; nothing exported yet (on the first call)"
        return "; exported: " + ", ".join(f"{key} {p.seconds:.2f} s" for key, p in sorted(self._packages.items()))
