"""The canonical parameter layout <-> an ``RnnNet``'s parameters.

torch's own layout is the canonical one (PyTorch/cuDNN gate order and two
biases), so the mapping is by name only: no reordering, no reshaping. The
streaming state travels as nn.RNN's ``hx``: each layer's h stacked (L, B, H),
and (h, c) for the LSTM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnnbench.params import Params, State, layer_keys, param_shapes
from rnnbench.spec import ModelSpec

if TYPE_CHECKING:
    from .net import RnnNet


def canonical_names(spec: ModelSpec) -> dict[str, str]:
    """Canonical parameter name -> the ``RnnNet`` parameter that holds it."""
    names: dict[str, str] = {}
    if spec.embedded:
        names["embedding"] = "embed.weight"
    for k in range(spec.num_layers):
        torch_names = (f"weight_ih_l{k}", f"weight_hh_l{k}", f"bias_ih_l{k}", f"bias_hh_l{k}")
        for canonical, native in zip(layer_keys(k), torch_names, strict=True):
            names[canonical] = f"rnn.{native}"
    names["head.w"] = "head.weight"
    names["head.b"] = "head.bias"
    return names


def load_canonical(net: RnnNet, spec: ModelSpec, params: Params) -> None:
    """Copy canonical ``params`` into ``net`` in place (same dtype and device)."""
    native = dict(net.named_parameters())
    with torch.no_grad():
        for canonical, name in canonical_names(spec).items():
            target = native[name]
            source = torch.from_numpy(np.ascontiguousarray(params[canonical], dtype=spec.dtype))
            target.copy_(source)  # into the existing storage: keeps cuDNN's flat buffer


def tensors_to_canonical(tensors: dict[str, torch.Tensor], spec: ModelSpec) -> Params:
    """Native-named tensors (parameters or gradients) as canonical NumPy copies."""
    shapes = param_shapes(spec)
    out: Params = {}
    for canonical, name in canonical_names(spec).items():
        value = tensors[name].detach().to("cpu").numpy().copy()
        out[canonical] = value.reshape(shapes[canonical])
    return out


def canonical_params(net: RnnNet, spec: ModelSpec) -> Params:
    """The current parameters of ``net`` in the canonical layout."""
    return tensors_to_canonical(dict(net.named_parameters()), spec)


def canonical_grads(net: RnnNet, spec: ModelSpec) -> Params:
    """The accumulated gradients of ``net`` in the canonical layout (zeros where unset)."""
    grads = {
        name: p.grad if p.grad is not None else torch.zeros_like(p)
        for name, p in net.named_parameters()
    }
    return tensors_to_canonical(grads, spec)


def to_hx(spec: ModelSpec, state: State, dtype: torch.dtype, device: torch.device) -> Any:
    """A canonical state as nn.RNN's ``hx`` on ``device``: h (L, B, H), or (h, c) for the LSTM."""
    def stacked(part: str) -> torch.Tensor:
        layers = [np.asarray(state[f"l{k}.{part}"]) for k in range(spec.num_layers)]
        return torch.from_numpy(np.stack(layers)).to(device=device, dtype=dtype)  # (L, B, H)
    return (stacked("h"), stacked("c")) if spec.cell == "lstm" else stacked("h")


def from_hx(spec: ModelSpec, hx: Any, dtype: torch.dtype) -> State:
    """nn.RNN's ``hx`` (as ``to_hx`` makes it) as a canonical state of NumPy copies in ``dtype``."""
    parts = dict(zip("hc", hx, strict=True)) if spec.cell == "lstm" else {"h": hx}
    return {f"l{k}.{part}": value[k].to(device="cpu", dtype=dtype).numpy().copy()
            for k in range(spec.num_layers) for part, value in parts.items()}
