"""The canonical parameters (``rnnbench.params``) <-> this backend's layout, in NumPy.

This backend multiplies row vectors (``x @ W``), so it keeps every weight
matrix transposed: ``w_x`` (I, G*H) and ``w_h`` (H, G*H) for the canonical
``w_ih`` (G*H, I) and ``w_hh`` (G*H, H), and the head as (H, O). Gate
blocks keep the canonical order (lstm i, f, g, o; gru r, z, n) and both
biases stay apart, as the GRU's n gate needs (b_hn sits inside r * (...)).
A framework that orders its gates differently reorders the blocks here
(``rnnbench.kit.reorder_blocks``).
"""

from __future__ import annotations

import numpy as np

from rnnbench.params import Params, layer_keys
from rnnbench.spec import ModelSpec

Native = dict[str, np.ndarray]  # this backend's names -> arrays


def native_names(spec: ModelSpec) -> dict[str, str]:
    """Canonical name -> this backend's name."""
    names = {"embedding": "embedding"} if spec.embedded else {}
    for k in range(spec.num_layers):
        names.update(zip(layer_keys(k), (f"{k}.w_x", f"{k}.w_h", f"{k}.b_x", f"{k}.b_h"), strict=True))
    return names | {"head.w": "head.w", "head.b": "head.b"}


def _transposed(name: str) -> bool:
    return name.endswith((".w_ih", ".w_hh")) or name == "head.w"


def to_native(spec: ModelSpec, params: Params) -> Native:
    """Canonical parameters in this backend's layout (copies, C-contiguous)."""
    return {native: np.ascontiguousarray(params[canonical].T if _transposed(canonical) else params[canonical])
            for canonical, native in native_names(spec).items()}


def from_native(spec: ModelSpec, arrays: Native) -> Params:
    """This backend's arrays (parameters or their gradients) in the canonical layout."""
    return {canonical: np.ascontiguousarray(arrays[native].T if _transposed(canonical) else arrays[native])
            for canonical, native in native_names(spec).items()}
