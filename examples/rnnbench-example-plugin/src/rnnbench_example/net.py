"""The common network as a loop over time steps in PyTorch, differentiated by autograd.

Imported only from ``TorchLoopBackend.build``: this module imports torch.
Parameters are a dict of tensors in this backend's layout (see ``layout``);
the math is the canonical one of ``rnnbench.params``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from rnnbench.spec import ModelSpec

Tensors = dict[str, torch.Tensor]


def forward(spec: ModelSpec, p: Tensors, x: torch.Tensor) -> torch.Tensor:
    """Logits or values: (B, T, O) for the lm head, (B, O) from the last step otherwise."""
    seq = p["embedding"][x] if spec.embedded else x  # (B, T, I)
    for k in range(spec.num_layers):
        seq = layer(spec.cell, p, k, seq)  # (B, T, H)
    last = seq if spec.head == "lm" else seq[:, -1]  # (B, T, H) or (B, H)
    return last @ p["head.w"] + p["head.b"]  # (B, T, O) or (B, O)


def layer(cell: str, p: Tensors, k: int, inputs: torch.Tensor) -> torch.Tensor:
    """Layer ``k`` over every step; zero initial states."""
    w_h, b_h = p[f"{k}.w_h"], p[f"{k}.b_h"]
    batch, steps, hidden = inputs.shape[0], inputs.shape[1], w_h.shape[0]
    from_inputs = inputs @ p[f"{k}.w_x"] + p[f"{k}.b_x"]  # (B, T, G*H): every step's input part at once
    h = inputs.new_zeros(batch, hidden)  # (B, H)
    c = inputs.new_zeros(batch, hidden)  # (B, H), LSTM only
    out = []
    for t in range(steps):
        gx, gh = from_inputs[:, t], h @ w_h + b_h  # (B, G*H) each
        if cell == "rnn":
            h = torch.tanh(gx + gh)
        elif cell == "lstm":
            i, f, g, o = (gx + gh).chunk(4, dim=1)  # (B, H) each
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:  # gru: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
            xr, xz, xn = gx.chunk(3, dim=1)
            hr, hz, hn = gh.chunk(3, dim=1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
        out.append(h)
    return torch.stack(out, dim=1)  # (B, T, H)


def loss_function(spec: ModelSpec) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss of each head as ``rnnbench.kit`` documents it, each a mean."""
    if spec.head == "lm":
        return lambda logits, y: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # over B*T
    if spec.head == "classify":
        return F.binary_cross_entropy_with_logits  # over B*O
    return F.mse_loss  # over B*O
