"""Canonical parameters in ONNX's recurrent-operator layout.

ONNX's ``RNN``, ``GRU`` and ``LSTM`` operators take, per direction, ``W``
(G*H, I), ``R`` (G*H, H) and ``B`` (2*G*H: the input-side biases then the
hidden-side ones), with the gate blocks in ONNX's own order:

- lstm: i, o, f, c, where the canonical order is i, f, g, o (c is g);
- gru: z, r, h, where the canonical order is r, z, n (h is n);
- rnn: one block.

A GRU built with ``linear_before_reset=1`` computes
h~ = tanh(W_h x + b_Wh + r * (R_h h + b_Rh)), the canonical (PyTorch) GRU.
"""

from __future__ import annotations

import numpy as np

from rnnbench.params import Params, layer_keys

# For each cell, the canonical block at each ONNX position.
ONNX_BLOCKS: dict[str, tuple[int, ...]] = {"rnn": (0,), "lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}


def reorder(cell: str, rows: np.ndarray, hidden: int) -> np.ndarray:
    """Gate blocks of ``rows`` (G*H, ...) from the canonical order to ONNX's."""
    return np.concatenate([rows[b * hidden:(b + 1) * hidden] for b in ONNX_BLOCKS[cell]])


def layer_weights(cell: str, params: Params, layer: int, hidden: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W`` (1, G*H, I), ``R`` (1, G*H, H) and ``B`` (1, 2*G*H) of one layer, one direction."""
    w_ih, w_hh, b_ih, b_hh = (params[name] for name in layer_keys(layer))
    bias = np.concatenate([reorder(cell, b_ih, hidden), reorder(cell, b_hh, hidden)])
    return reorder(cell, w_ih, hidden)[None], reorder(cell, w_hh, hidden)[None], bias[None]
