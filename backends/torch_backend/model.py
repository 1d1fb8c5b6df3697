"""TorchModel: one RnnNet, its loss and optimiser, on one device, in one implementation.

Imported only from ``TorchBackend.build``: this module imports torch.

The implementation (``TorchBackend.implementations``) decides the recurrent
module and how it runs: "fused" the nn.RNN/nn.LSTM/nn.GRU layer, "loop" the
cells stepped in Python (``net.LoopRnn``), "compiled" that loop under
``torch.compile``. Everything else (loss, optimiser, clipping) is shared.
The streaming step runs the same module (compiled for "compiled") on a
sequence of one step from the given states.

``train_step`` is the plain PyTorch loop (zero_grad, forward, loss,
backward, clip, step) and never reads the loss back to the host, so on a
GPU it returns as soon as the work is queued. The last loss stays on the
device (a 0-d tensor) until ``last_loss()`` reads it back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rnnbench.backend import MemoryStats, Model, RuntimeInfo
from rnnbench.kit import model_inputs
from rnnbench.params import Params, State, check_params
from rnnbench.spec import LOSS_SCALING, ModelSpec, OptimizerSpec

from . import runtime
from .layout import canonical_grads, canonical_params, from_hx, load_canonical, to_hx
from .net import TORCH_DTYPES, RnnNet, loss_function
from .optim import make_clipper, make_optimizer

CELL_CLASSES: dict[str, str] = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}
LOOP_PATHS: dict[str, str] = {
    "loop": "torch step loop in Python ({cell} cell), eager autograd",
    "compiled": "torch.compile (inductor) of the torch step loop ({cell} cell)",
}


class TorchModel(Model):
    """The common model as an nn.Module, trained by a torch.optim optimiser."""

    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec,
                 device: torch.device, implementation: str = "fused") -> None:
        check_params(spec, params)
        self.spec, self.opt_spec, self.device = spec, optimizer, device
        self.implementation = implementation
        self.dtype = TORCH_DTYPES[spec.dtype]
        self.net = RnnNet(spec, loop=implementation != "fused").to(device=device, dtype=self.dtype)
        load_canonical(self.net, spec, params)
        self.compile_setting = "eager (no torch.compile)"
        self.forward: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor] = self.net
        self.step_fn: Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]] = self.net.step
        if implementation == "compiled":  # compiled on first call: a model never stepped compiles no step
            self.forward, self.compile_setting = runtime.compile_loop(self.net)
            self.step_fn, _ = runtime.compile_loop(self.net.step)
        self.loss_fn = loss_function(spec)
        # Mixed precision: torch.autocast runs the layers' matmuls (and oneDNN's LSTM) in bfloat16 over the
        # float32 parameters; outputs are cast back to float32 before the loss, as PyTorch's AMP recipe does.
        self.autocast = None if spec.autocast is None else getattr(torch, spec.autocast)
        self.scaler: torch.amp.GradScaler | None = None  # float16 only: dynamic loss scaling (_reset_optimizer)
        self._last_loss: torch.Tensor | None = None  # 0-d, on the device; read by last_loss()
        self._kernel: str | None = None
        self._reset_optimizer()
        self.fp32_precision = "n/a on the CPU"
        if device.type == "cuda":
            self.fp32_precision = runtime.float32_matmuls(spec.tf32)  # float32 as the reference has it, or TF32
            torch.cuda.reset_peak_memory_stats(device)  # peak counts from the built model on

    def _reset_optimizer(self) -> None:
        params = list(self.net.parameters())
        self.optimizer, self.optimizer_impl = make_optimizer(params, self.opt_spec)
        self.clip = make_clipper(params, self.opt_spec.clip_norm)
        if self.spec.autocast == "float16":  # a fresh model: a fresh scale, as a fresh optimiser
            self.scaler = torch.amp.GradScaler(
                self.device.type, init_scale=LOSS_SCALING.initial, growth_factor=LOSS_SCALING.growth,
                backoff_factor=LOSS_SCALING.backoff, growth_interval=LOSS_SCALING.interval)

    # ---- data --------------------------------------------------------------

    def _x(self, x: np.ndarray) -> torch.Tensor:
        """Token ids as int64 (B, T) or features as (B, T, F) in the model dtype, on the device."""
        (array,) = model_inputs(self.spec, x)
        return torch.from_numpy(array).to(self.device, non_blocking=True)

    def _y(self, y: np.ndarray, x: np.ndarray) -> torch.Tensor:
        """Targets: int64 class ids (B, T) for the lm head, else (B, O) in the model dtype."""
        _, array = model_inputs(self.spec, x, y)
        return torch.from_numpy(array).to(self.device, non_blocking=True)

    # ---- Model interface -----------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        """torch.autocast for mixed precision, else nothing."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output in the model dtype (mixed precision: cast back from 16 bits)."""
        with self._autocast():
            out = self.forward(x)
        return out.to(self.dtype)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        x_t, y_t = self._x(x), self._y(y, x)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self._run(x_t), y_t)  # 0-d
        if self.scaler is None:
            loss.backward()
            if self.clip is not None:
                self.clip()
            self.optimizer.step()
        else:  # PyTorch's AMP recipe: backward of the scaled loss, unscale, clip, step unless inf/NaN, update
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
            if self.clip is not None:
                self.clip()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self._last_loss = loss.detach()

    def last_loss(self) -> float | None:
        return None if self._last_loss is None else float(self._last_loss.item())

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self._run(self._x(x)), self._y(y, x))  # 0-d
        scale = 1.0 if self.scaler is None else float(self.scaler.get_scale())
        (loss * scale).backward()  # float16: the gradients training takes, scaled and divided back
        grads = {name: value / scale for name, value in canonical_grads(self.net, self.spec).items()}
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.item()), grads

    def predict(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self._run(self._x(x))  # (B, T, O) or (B, O)
            return out.to("cpu").numpy().copy()

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        with torch.inference_mode(), self._autocast():
            out, hx = self.step_fn(self._x(np.asarray(x)[:, None]), to_hx(self.spec, state, self.dtype, self.device))
        return out.to(device="cpu", dtype=self.dtype).numpy().copy(), from_hx(self.spec, hx, self.dtype)

    def get_params(self) -> Params:
        return canonical_params(self.net, self.spec)

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        load_canonical(self.net, self.spec, params)
        self._reset_optimizer()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def device_memory(self) -> MemoryStats | None:
        if self.device.type != "cuda":
            return None
        peak, current = runtime.peak_memory(self.device)
        return MemoryStats(peak_bytes=peak, current_bytes=current, source="torch.cuda.max_memory_allocated")

    def runtime_info(self) -> RuntimeInfo:
        settings = runtime.current_settings()
        where = f"({self.device}, {self.spec.precision})"
        if self.implementation == "fused":
            if self._kernel is None:
                self._kernel = runtime.probe_kernel(self.net.rnn, self.dtype, self.device)  # type: ignore[arg-type]
            path = f"torch {CELL_CLASSES[self.spec.cell]}, {self._kernel} {where}"
        else:
            path = LOOP_PATHS[self.implementation].format(cell=self.spec.cell) + f" {where}"
            settings["fused_kernel"] = "none: the cells stepped in Python, no RNN kernel"
        settings.update({
            "implementation": self.implementation,
            "compile": self.compile_setting,
            "optimizer": self.optimizer_impl,
            "clip": "torch.nn.utils.clip_grad_norm_" if self.clip is not None else "none",
            "device": str(self.device),
            "autocast": "none" if self.autocast is None else f"torch.autocast({self.device.type}, {self.autocast})",
        })
        if self.scaler is not None:
            rule = LOSS_SCALING
            settings["loss_scaling"] = (f"torch.amp.GradScaler(init_scale={rule.initial:g}, x{rule.growth:g} every "
                                        f"{rule.interval} finite steps, x{rule.backoff:g} and the step skipped on "
                                        "inf/NaN)")
        if self.device.type == "cuda":
            settings["fp32_precision"] = self.fp32_precision
            cudnn = torch.backends.cudnn
            settings["cudnn"] = f"enabled={cudnn.enabled}, version={cudnn.version()}"
        return RuntimeInfo(kernel_path=path, settings=settings)
