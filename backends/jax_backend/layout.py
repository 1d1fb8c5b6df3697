"""Canonical parameters <-> the JAX backend's parameter pytree (NumPy only).

The JAX model keeps its weights as a pytree in the ``x @ W`` convention of
JAX/Flax (kernels are (in, out)), so the input projection of all time steps
is one ``(T*B, I) @ (I, G*H)`` matmul with no transpose inside the step:

====================  ==============  =========================================
pytree path           shape           canonical name
====================  ==============  =========================================
``embedding``         (vocab, dim)    ``embedding`` (unchanged)
``layers[k].w_ih``    (I_k, G*H)      ``l{k}.w_ih`` transposed
``layers[k].w_hh``    (H, G*H)        ``l{k}.w_hh`` transposed
``layers[k].b_ih``    (G*H,)          ``l{k}.b_ih`` (unchanged)
``layers[k].b_hh``    (G*H,)          ``l{k}.b_hh`` (unchanged)
``head.w``            (H, O)          ``head.w`` transposed
``head.b``            (O,)            ``head.b`` (unchanged)
====================  ==============  =========================================

Gate blocks keep the canonical order (i, f, g, o and r, z, n) along the G*H
columns, and both biases stay separate parameters: fusing them would be
exact for the forward pass but would change every optimiser step (each bias
gets its own Adam/RMSprop update), so it would not train the same function.
Both directions are exact (transposes and copies only). The streaming state
travels as each layer's ``lax.scan`` carry: h, or (h, c) for the LSTM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnbench.params import Params, State, check_params, layer_keys
from rnnbench.spec import ModelSpec

# The pytree: {"embedding"?: array, "layers": [{"w_ih", "w_hh", "b_ih", "b_hh"}, ...], "head": {"w", "b"}}.
Tree = dict[str, Any]


def to_tree(spec: ModelSpec, params: Params) -> Tree:
    """The pytree of ``params`` (NumPy arrays of ``spec.dtype``, fresh copies)."""
    check_params(spec, params)
    dtype = np.dtype(spec.dtype)

    def copy(a: np.ndarray, transpose: bool = False) -> np.ndarray:
        # ascontiguousarray so the device copy is a plain row-major buffer.
        return np.ascontiguousarray(a.T if transpose else a, dtype=dtype)

    layers = []
    for k in range(spec.num_layers):
        w_ih, w_hh, b_ih, b_hh = layer_keys(k)
        layers.append({"w_ih": copy(params[w_ih], True),  # (I_k, G*H)
                       "w_hh": copy(params[w_hh], True),  # (H, G*H)
                       "b_ih": copy(params[b_ih]),  # (G*H,)
                       "b_hh": copy(params[b_hh])})  # (G*H,)
    tree: Tree = {"layers": layers,
                  "head": {"w": copy(params["head.w"], True),  # (H, O)
                           "b": copy(params["head.b"])}}  # (O,)
    if spec.embedded:
        tree["embedding"] = copy(params["embedding"])  # (V, D)
    return tree


def from_tree(spec: ModelSpec, tree: Tree) -> Params:
    """Canonical parameters (fresh NumPy copies) from a pytree of host or device arrays."""

    def copy(a: Any, transpose: bool = False) -> np.ndarray:
        host = np.asarray(a)
        return np.array(host.T if transpose else host, dtype=host.dtype, order="C", copy=True)

    params: Params = {}
    if spec.embedded:
        params["embedding"] = copy(tree["embedding"])
    for k, layer in enumerate(tree["layers"]):
        w_ih, w_hh, b_ih, b_hh = layer_keys(k)
        params[w_ih] = copy(layer["w_ih"], True)
        params[w_hh] = copy(layer["w_hh"], True)
        params[b_ih] = copy(layer["b_ih"])
        params[b_hh] = copy(layer["b_hh"])
    params["head.w"] = copy(tree["head"]["w"], True)
    params["head.b"] = copy(tree["head"]["b"])
    return params


def to_carries(spec: ModelSpec, state: State) -> list[Any]:
    """A canonical state as each layer's carry, h or (h, c), NumPy arrays of ``spec.dtype``."""
    def part(k: int, name: str) -> np.ndarray:
        return np.asarray(state[f"l{k}.{name}"], spec.dtype)
    return [(part(k, "h"), part(k, "c")) if spec.cell == "lstm" else part(k, "h") for k in range(spec.num_layers)]


def from_carries(spec: ModelSpec, carries: list[Any]) -> State:
    """Each layer's carry (as ``to_carries`` makes them) as a canonical state of NumPy copies."""
    state: State = {}
    for k, carry in enumerate(carries):
        for name, value in zip("hc", carry if spec.cell == "lstm" else (carry,), strict=False):
            state[f"l{k}.{name}"] = np.array(value)
    return state
