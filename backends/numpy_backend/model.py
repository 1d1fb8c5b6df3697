"""``NumpyModel``: the reference network, its workspaces and its training step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnbench.backend import Model, RuntimeInfo
from rnnbench.kit import check_batch, check_inputs
from rnnbench.params import Params, State, check_params, copy_params, layer_keys
from rnnbench.spec import ModelSpec, OptimizerSpec

from . import heads
from .cells import LayerBuffers, Weights, backward_layer, cell_step, forward_layer
from .optim import make_optimizer
from .runtime import blas_library

KERNEL_PATH = "numpy: BLAS matmul + hand-written BPTT"
IMPLEMENTATION = "reference"  # the backend's one implementation (NumpyBackend.implementations)
MAX_WORKSPACES = 4  # batch shapes kept alive at once (e.g. a training and an evaluation shape)


@dataclass
class Workspace:
    """Every array one forward and backward pass needs for one (T, B)."""

    x: np.ndarray  # (T, B, I_0) layer 0's input, time-major
    dx: np.ndarray | None  # (T, B, D) dL/d(embedded input); None for dense input
    layers: list[LayerBuffers]  # one per layer
    dh: list[np.ndarray]  # (T, B, H) dL/d(hidden states of layer k); a last-step head fills only [-1][-1]
    out: np.ndarray  # (T*B, O) lm logits, or (B, O) from the last step
    dout: np.ndarray  # same shape: dL/d(out)

    @classmethod
    def allocate(cls, spec: ModelSpec, steps: int, batch: int) -> Workspace:
        dtype, hidden = spec.dtype, spec.hidden_size
        x = np.empty((steps, batch, spec.layer_input_size(0)), dtype)
        rows = batch if heads.last_step(spec) else steps * batch
        return cls(
            x=x,
            dx=np.empty_like(x) if spec.embedded else None,
            layers=[LayerBuffers.allocate(spec.cell, spec.gates, steps, batch, hidden, dtype)
                    for _ in range(spec.num_layers)],
            dh=[np.zeros((steps, batch, hidden), dtype) for _ in range(spec.num_layers)],
            out=np.empty((rows, spec.output_size), dtype),
            dout=np.empty((rows, spec.output_size), dtype),
        )


class NumpyModel(Model):
    """One network in NumPy on the host."""

    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec) -> None:
        self.spec = spec
        self.optimizer_spec = optimizer
        self._workspaces: dict[tuple[int, int], Workspace] = {}
        self._last_loss: float | None = None
        check_params(spec, params)
        self._params = copy_params(params, spec.dtype)
        self._grads = {k: np.zeros_like(v) for k, v in self._params.items()}  # written by every backward pass
        self._optimizer = make_optimizer(optimizer, self._params)

    # -- the Model interface --

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        self._last_loss = self._loss_and_grads(x, y)
        self._optimizer.step(self._params, self._grads)

    def last_loss(self) -> float | None:
        return self._last_loss

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        loss = self._loss_and_grads(x, y)
        return loss, copy_params(self._grads)

    def predict(self, x: np.ndarray) -> np.ndarray:
        ws = self._forward(x)
        return heads.present(self.spec, ws.out, *ws.x.shape[:2])

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        p, dtype = self._params, self.spec.dtype
        h = p["embedding"][x] if self.spec.embedded else np.asarray(x, dtype)  # (B, I_0)
        new: State = {}
        for k in range(self.spec.num_layers):
            c = state.get(f"l{k}.c")
            h, c = cell_step(self.spec.cell, self._layer(p, k), h, np.asarray(state[f"l{k}.h"], dtype),
                             None if c is None else np.asarray(c, dtype))
            new[f"l{k}.h"] = h
            if c is not None:
                new[f"l{k}.c"] = c
        return h @ p["head.w"].T + p["head.b"], new

    def get_params(self) -> Params:
        return copy_params(self._params)

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        for name, value in self._params.items():
            np.copyto(value, params[name])  # a copy, cast to the spec's dtype
        self._optimizer.reset()

    def runtime_info(self) -> RuntimeInfo:
        blas = blas_library()
        settings = {"implementation": IMPLEMENTATION, "blas": blas, "dtype": self.spec.dtype}
        return RuntimeInfo(f"{KERNEL_PATH} ({blas})", settings)

    # -- the numerics, top to bottom --

    def _loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> float:
        ws = self._forward(x, y)
        loss = heads.head_loss(self.spec, ws.out, y, ws.dout)
        self._backward(ws, x)
        return loss

    def _forward(self, x: np.ndarray, y: np.ndarray | None = None) -> Workspace:
        """Run the network on ``x``, after checking ``x`` (and ``y``, when given).

        The head's output and every activation stay in the returned workspace.
        """
        # The reference checks every batch (the core checks each case's once): it defines what is valid.
        if y is None:
            check_inputs(self.spec, x)
        else:
            check_batch(self.spec, x, y)
        batch, steps = x.shape[0], x.shape[1]
        ws = self._workspace(steps, batch)
        p = self._params
        if self.spec.embedded:
            heads.embed(p["embedding"], x, ws.x)  # (T, B, D)
        else:
            np.copyto(ws.x, x.transpose(1, 0, 2))  # (T, B, F), cast to the model's dtype
        h = ws.x
        for k, buf in enumerate(ws.layers):
            h = forward_layer(self.spec.cell, self._layer(p, k), h, buf)  # (T, B, H)
        heads.head_forward(self.spec, p["head.w"], p["head.b"], h, ws.out)
        return ws

    def _backward(self, ws: Workspace, x: np.ndarray) -> None:
        """Gradients of every parameter into ``self._grads``, from dL/d(out) in the workspace."""
        p, g, top = self._params, self._grads, ws.layers[-1].h[1:]
        heads.head_backward(self.spec, p["head.w"], top, ws.dout, g["head.w"], g["head.b"], ws.dh[-1])
        for k in reversed(range(self.spec.num_layers)):
            layer_input = ws.x if k == 0 else ws.layers[k - 1].h[1:]  # (T, B, I_k)
            d_input = ws.dx if k == 0 else ws.dh[k - 1]  # None: dense data needs no gradient
            backward_layer(self.spec.cell, self._layer(p, k), layer_input, ws.layers[k], ws.dh[k],
                           self._layer(g, k), d_input)
        if self.spec.embedded:
            heads.embed_backward(g["embedding"], x, ws.dx)  # type: ignore[arg-type]

    @staticmethod
    def _layer(arrays: Params, k: int) -> Weights:
        w_ih, w_hh, b_ih, b_hh = layer_keys(k)
        return arrays[w_ih], arrays[w_hh], arrays[b_ih], arrays[b_hh]

    def _workspace(self, steps: int, batch: int) -> Workspace:
        """The buffers for (T, B), allocated on first use and reused after."""
        key = (steps, batch)
        if key not in self._workspaces:
            if len(self._workspaces) >= MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))  # the oldest shape
            self._workspaces[key] = Workspace.allocate(self.spec, steps, batch)
        return self._workspaces[key]
