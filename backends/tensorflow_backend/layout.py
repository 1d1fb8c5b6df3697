"""Canonical parameters <-> Keras 3 layer weights, in plain NumPy.

Keras keeps weights transposed relative to the canonical layout (``x @ W``
instead of ``W @ x``) and differs in two more ways:

- SimpleRNN and LSTM have ONE bias per gate. The canonical pair becomes its
  sum, and a Keras bias goes back as ``(b_ih, b_hh) = (bias, 0)``, as
  rnnbench/params.py documents. Gradients go back differently: the loss
  depends on ``b_ih + b_hh``, so d/d b_ih = d/d b_hh = d/d bias.
- GRU (``reset_after=True``) orders its gates z, r, h where the canonical
  layout has r, z, n, and stores both biases as one (2, 3H) array
  ``[input bias, recurrent bias]``.

LSTM gates i, f, c, o are the canonical i, f, g, o, so only the transpose
differs. Weights travel as one list per Keras layer, in that layer's
``get_weights()`` order: the embedding (if any), each recurrent layer, the
head. The streaming state travels as Keras cells take it: one list per
recurrent layer, [h] or [h, c] for the LSTM. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import numpy as np

from rnnbench.kit import reorder_blocks
from rnnbench.params import Params, State, layer_keys
from rnnbench.spec import ModelSpec

LayerWeights = list[np.ndarray]

# Keras' GRU gate blocks as indices into the canonical (r, z, n) blocks: z, r, h.
# Swapping the first two blocks is its own inverse, so it converts both ways.
_GRU_BLOCKS: tuple[int, int, int] = (1, 0, 2)


def _swap_gru_blocks(a: np.ndarray, axis: int) -> np.ndarray:
    """Reorder the three gate blocks of ``a`` along ``axis`` (r,z,n <-> z,r,h)."""
    return reorder_blocks(a, _GRU_BLOCKS, axis)


def single_bias(cell: str) -> bool:
    """True when Keras keeps one bias per gate for this cell (rnn, lstm)."""
    return cell != "gru"


def recurrent_to_keras(cell: str, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
                       b_hh: np.ndarray) -> LayerWeights:
    """One layer's canonical weights as [kernel, recurrent_kernel, bias] for Keras."""
    kernel, recurrent = w_ih.T, w_hh.T  # (I, G*H), (H, G*H)
    if single_bias(cell):
        return [kernel, recurrent, b_ih + b_hh]  # bias (G*H,)
    kernel, recurrent = _swap_gru_blocks(kernel, 1), _swap_gru_blocks(recurrent, 1)
    bias = np.stack([_swap_gru_blocks(b_ih, 0), _swap_gru_blocks(b_hh, 0)])  # (2, 3H)
    return [kernel, recurrent, bias]


def recurrent_from_keras(cell: str, weights: LayerWeights, *, gradient: bool = False) -> LayerWeights:
    """[w_ih, w_hh, b_ih, b_hh] from a Keras layer's weights (or their gradients).

    A single Keras bias splits as (bias, 0) for parameters and as
    (bias, bias) for gradients, since the loss sees only the sum.
    """
    kernel, recurrent, bias = weights
    if single_bias(cell):
        b_hh = bias if gradient else np.zeros_like(bias)
        return [kernel.T, recurrent.T, bias, b_hh]
    w_ih = _swap_gru_blocks(kernel, 1).T  # (3H, I)
    w_hh = _swap_gru_blocks(recurrent, 1).T  # (3H, H)
    return [w_ih, w_hh, _swap_gru_blocks(bias[0], 0), _swap_gru_blocks(bias[1], 0)]


def to_keras(spec: ModelSpec, params: Params) -> list[LayerWeights]:
    """Every Keras layer's weights, embedding first and head last."""
    layers: list[LayerWeights] = []
    if spec.embedded:
        layers.append([params["embedding"]])  # (vocab, dim)
    for k in range(spec.num_layers):
        layers.append(recurrent_to_keras(spec.cell, *(params[key] for key in layer_keys(k))))
    layers.append([params["head.w"].T, params["head.b"]])  # (H, O), (O,)
    return [[np.ascontiguousarray(w) for w in layer] for layer in layers]


def from_keras(spec: ModelSpec, layers: list[LayerWeights], *, gradient: bool = False) -> Params:
    """Canonical parameters (or gradients, with ``gradient=True``) from Keras layers' weights."""
    params: Params = {}
    rest = list(layers)
    if spec.embedded:
        params["embedding"] = rest.pop(0)[0]
    for k in range(spec.num_layers):
        converted = recurrent_from_keras(spec.cell, rest.pop(0), gradient=gradient)
        params.update(zip(layer_keys(k), converted, strict=True))
    head_kernel, head_bias = rest.pop(0)
    params["head.w"], params["head.b"] = head_kernel.T, head_bias
    return {name: np.ascontiguousarray(value) for name, value in params.items()}


def to_cell_states(spec: ModelSpec, state: State) -> list[list[np.ndarray]]:
    """A canonical state as each recurrent layer's cell states, [h] or [h, c], in the spec's dtype."""
    parts = "hc" if spec.cell == "lstm" else "h"
    return [[np.asarray(state[f"l{k}.{part}"], spec.dtype) for part in parts] for k in range(spec.num_layers)]


def from_cell_states(spec: ModelSpec, layers: list[list[np.ndarray]]) -> State:
    """Each recurrent layer's cell states (as ``to_cell_states`` makes them) as a canonical state."""
    parts = "hc" if spec.cell == "lstm" else "h"
    return {f"l{k}.{part}": value for k, states in enumerate(layers)
            for part, value in zip(parts, states, strict=True)}
