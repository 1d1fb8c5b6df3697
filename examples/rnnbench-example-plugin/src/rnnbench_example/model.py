"""``TorchLoopModel``: the network on one device, as the core drives it.

Imported only from ``TorchLoopBackend.build``: this module imports torch.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnbench.backend import MemoryStats, Model, RuntimeInfo
from rnnbench.kit import model_inputs
from rnnbench.params import Params, State, check_params
from rnnbench.spec import ModelSpec, OptimizerSpec

from . import layout, net, runtime
from .optim import clip_, make_optimizer


class TorchLoopModel(Model):
    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: torch.device) -> None:
        self.spec, self.opt_spec, self.device = spec, optimizer, device
        self.dtype = runtime.DTYPES[spec.dtype]
        self.loss_fn = net.loss_function(spec)
        self._last_loss: torch.Tensor | None = None
        self.set_params(params)

    # ---- data in and out ------------------------------------------------------------------

    def _tensors(self, x: np.ndarray, y: np.ndarray | None = None) -> list[torch.Tensor]:
        """x (and y) on the device: ids and lm classes as int64, floats in the model's dtype."""
        return [torch.from_numpy(a).to(self.device) for a in model_inputs(self.spec, x, y, ids=np.int64)]

    def _numpy(self, tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {name: t.detach().to("cpu").numpy().copy() for name, t in tensors.items()}

    # ---- the Model interface -----------------------------------------------------------------

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        loss = self._backward(*self._tensors(x, y))
        if self.opt_spec.clip_norm is not None:
            clip_(list(self.params.values()), self.opt_spec.clip_norm)
        self.optimizer.step()
        self._last_loss = loss.detach()  # stays on the device until asked for

    def _backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(net.forward(self.spec, self.params, x), y)  # 0-d
        loss.backward()
        return loss

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        loss = self._backward(*self._tensors(x, y))
        grads = {name: p.grad if p.grad is not None else torch.zeros_like(p) for name, p in self.params.items()}
        return float(loss.item()), layout.from_native(self.spec, self._numpy(grads))

    def predict(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net.forward(self.spec, self.params, *self._tensors(x)).to("cpu").numpy().copy()

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One step of streaming inference; the state in the canonical layout (``rnnbench.params``)."""
        tensors = {name: torch.from_numpy(np.asarray(a, self.spec.dtype)).to(self.device) for name, a in state.items()}
        lstm = self.spec.cell == "lstm"
        states = [(tensors[f"l{k}.h"], tensors[f"l{k}.c"] if lstm else tensors[f"l{k}.h"])
                  for k in range(self.spec.num_layers)]
        with torch.inference_mode():
            out, states = net.step(self.spec, self.params, *self._tensors(x), states)
        new = {f"l{k}.h": h for k, (h, _) in enumerate(states)} | (
            {f"l{k}.c": c for k, (_, c) in enumerate(states)} if lstm else {})
        return out.to("cpu").numpy().copy(), self._numpy(new)

    def get_params(self) -> Params:
        return layout.from_native(self.spec, self._numpy(self.params))

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        native = layout.to_native(self.spec, params)
        self.params = {name: torch.tensor(array, dtype=self.dtype, device=self.device, requires_grad=True)
                       for name, array in native.items()}
        self.optimizer = make_optimizer(list(self.params.values()), self.opt_spec)  # fresh state

    def last_loss(self) -> float | None:
        return None if self._last_loss is None else float(self._last_loss.item())

    def synchronize(self) -> None:
        runtime.synchronize(self.device)

    def device_memory(self) -> MemoryStats | None:
        if self.device.type != "cuda":
            return None
        return MemoryStats(peak_bytes=torch.cuda.max_memory_allocated(self.device),
                           current_bytes=torch.cuda.memory_allocated(self.device),
                           source="torch.cuda.max_memory_allocated")

    def runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(f"torchloop: a Python loop over time steps, autograd ({self.device}, {self.spec.dtype})",
                           {"device": str(self.device), "optimizer": type(self.optimizer).__name__,
                            "threads": str(torch.get_num_threads())})
