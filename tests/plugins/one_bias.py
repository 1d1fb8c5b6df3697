"""Backends on a cell with one bias per gate: the guide's recipe (passes the check) and the old one (fails).

The "framework" is ``OneBiasCell``: a functional RNN cell that, like many frameworks' cells, takes one
bias per gate, ``b`` (G*H,), and for a GRU the n gate's hidden-side ``b_hn`` (H,) apart, since the
canonical n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) puts it inside r * (...) (flax's GRUCell and
Keras' reset_after GRU do the same). It computes through the NumPy reference with the reference's
hidden-side bias held at zero, so it costs nothing to write.

- ``one_bias`` follows ``docs/writing-a-backend.md``: the model keeps b_ih and b_hh as two trainable
  parameters and hands the cell their sum in every forward pass, so the cell's bias gradient g reaches
  each as (g, g), and the optimiser (and clipping's global norm) sees both, as the reference's does.
- ``one_bias_sum`` stores the sum as one parameter and trains it: outputs and gradients agree, but each
  optimiser step moves the sum once where the reference moves both biases, so every step is off.
"""

from __future__ import annotations

import numpy as np

from rnnbench import hookimpl
from rnnbench.backend import Backend, Model, RuntimeInfo
from rnnbench.backends.numpy_backend import NumpyModel
from rnnbench.backends.numpy_backend.optim import make_optimizer
from rnnbench.params import Params, check_params, copy_params, layer_keys
from rnnbench.spec import ModelSpec, OptimizerSpec

UNUSED = OptimizerSpec("sgd", lr=1.0)  # the cell never trains: the models below do


class OneBiasCell:
    """The framework's network as pure functions of its own weights: one bias ``l{k}.bias`` per gate per layer
    (and ``l{k}.bias_hn`` for a GRU), the rest named as the canonical layout names it."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.reference = NumpyModel(spec, {k: np.zeros(s, spec.dtype) for k, s in _shapes(spec).items()}, UNUSED)

    def predict(self, weights: Params, x: np.ndarray) -> np.ndarray:
        self.reference.set_params(self._canonical(weights))
        return self.reference.predict(x)

    def loss_and_grads(self, weights: Params, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        self.reference.set_params(self._canonical(weights))
        loss, grads = self.reference.loss_and_grads(x, y)
        native = {k: v for k, v in grads.items() if not _is_bias(k)}
        for k in range(self.spec.num_layers):
            _, _, b_ih, b_hh = layer_keys(k)
            native[f"l{k}.bias"] = grads[b_ih]  # the gradient of the one bias the cell adds
            if self.spec.cell == "gru":
                native[f"l{k}.bias_hn"] = grads[b_hh][_n_block(self.spec)]
        return loss, native

    def _canonical(self, weights: Params) -> Params:
        """The reference's layout of this cell: b_ih = b; b_hh = 0, but b_hn in a GRU's n block."""
        params = {k: v for k, v in weights.items() if not k.endswith((".bias", ".bias_hn"))}
        for k in range(self.spec.num_layers):
            _, _, b_ih, b_hh = layer_keys(k)
            params[b_ih] = weights[f"l{k}.bias"]
            params[b_hh] = np.zeros_like(weights[f"l{k}.bias"])
            if self.spec.cell == "gru":
                params[b_hh][_n_block(self.spec)] = weights[f"l{k}.bias_hn"]
        return params


class RecipeModel(Model):
    """The guide's recipe: b_ih and b_hh are two trainable parameters; the cell gets their sum."""

    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec) -> None:
        check_params(spec, params)
        self.spec, self.cell = spec, OneBiasCell(spec)
        self.params = copy_params(params, spec.dtype)  # the canonical layout is this model's own
        self.optimizer = make_optimizer(optimizer, self.params)  # over both biases, as the reference's

    def _weights(self) -> Params:
        """The cell's weights: each gate's bias is b_ih + b_hh, except a GRU's n gate (b_in; b_hn apart)."""
        weights = {k: v for k, v in self.params.items() if not _is_bias(k)}
        for k in range(self.spec.num_layers):
            _, _, b_ih, b_hh = layer_keys(k)
            weights[f"l{k}.bias"] = self.params[b_ih] + self.params[b_hh]
            if self.spec.cell == "gru":
                n = _n_block(self.spec)
                weights[f"l{k}.bias"][n] = self.params[b_ih][n]
                weights[f"l{k}.bias_hn"] = self.params[b_hh][n].copy()
        return weights

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        loss, native = self.cell.loss_and_grads(self._weights(), x, y)
        grads = {k: v for k, v in native.items() if not k.endswith((".bias", ".bias_hn"))}
        for k in range(self.spec.num_layers):
            _, _, b_ih, b_hh = layer_keys(k)
            grads[b_ih] = native[f"l{k}.bias"].copy()  # d(b_ih + b_hh)/d b_ih = 1: the same g for each
            grads[b_hh] = native[f"l{k}.bias"].copy()
            if self.spec.cell == "gru":
                grads[b_hh][_n_block(self.spec)] = native[f"l{k}.bias_hn"]
        return loss, grads

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.optimizer.step(self.params, self.loss_and_grads(x, y)[1])  # clips over both biases too

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.cell.predict(self._weights(), x)

    def get_params(self) -> Params:
        return copy_params(self.params)

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        self.params = copy_params(params, self.spec.dtype)
        self.optimizer = make_optimizer(self.optimizer.spec, self.params)

    def runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo("one-bias cell, two bias parameters summed per step", {"implementation": "default"})


class SumModel(RecipeModel):
    """The old recipe: one parameter per gate holding b_ih + b_hh, trained as one (fails every step)."""

    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec) -> None:
        super().__init__(spec, params, optimizer)
        self.native = self._weights()
        self.optimizer = make_optimizer(optimizer, self.native)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.optimizer.step(self.native, self.cell.loss_and_grads(self.native, x, y)[1])
        self.params = self._from_native()

    def _from_native(self) -> Params:
        params = {k: v.copy() for k, v in self.native.items() if not k.endswith((".bias", ".bias_hn"))}
        for k in range(self.spec.num_layers):
            _, _, b_ih, b_hh = layer_keys(k)
            params[b_ih] = self.native[f"l{k}.bias"].copy()  # (sum, 0)
            params[b_hh] = np.zeros_like(params[b_ih])
            if self.spec.cell == "gru":
                params[b_hh][_n_block(self.spec)] = self.native[f"l{k}.bias_hn"]
        return params


def _shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    from rnnbench.params import param_shapes

    return param_shapes(spec)


def _is_bias(name: str) -> bool:
    return name.endswith((".b_ih", ".b_hh"))


def _n_block(spec: ModelSpec) -> slice:
    """A GRU's n gate block (r, z, n): its last H rows."""
    return slice(2 * spec.hidden_size, 3 * spec.hidden_size)


class OneBiasBackend(Backend):
    name = "one_bias"
    description = "A one-bias-per-gate cell, by the guide's recipe: two bias parameters, summed in the cell"
    requires = ("numpy",)
    model = RecipeModel

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        self.checked_implementation(device, spec)
        return self.model(spec, params, optimizer)


class OneBiasSumBackend(OneBiasBackend):
    name = "one_bias_sum"
    description = "A one-bias-per-gate cell storing the sum of the two biases (the old recipe: fails steps)"
    model = SumModel


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [OneBiasBackend, OneBiasSumBackend]
