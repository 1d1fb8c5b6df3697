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
State = tuple[torch.Tensor, torch.Tensor]  # one layer's (h, c), each (B, H); c is unused but by the LSTM


def forward(spec: ModelSpec, p: Tensors, x: torch.Tensor) -> torch.Tensor:
    """Logits or values: (B, T, O) for the lm head, (B, O) from the last step otherwise."""
    seq = p["embedding"][x] if spec.embedded else x  # (B, T, I)
    for k in range(spec.num_layers):
        seq, _ = layer(spec.cell, p, k, seq)  # (B, T, H)
    last = seq if spec.head == "lm" else seq[:, -1]  # (B, T, H) or (B, H)
    return last @ p["head.w"] + p["head.b"]  # (B, T, O) or (B, O)


def step(spec: ModelSpec, p: Tensors, x: torch.Tensor, states: list[State]) -> tuple[torch.Tensor, list[State]]:
    """One step of streaming inference, x (B,) ids or (B, F): the head's output (B, O) and each layer's new
    (h, c), every layer run by ``layer`` on a sequence of one step from its given (h, c)."""
    seq = (p["embedding"][x] if spec.embedded else x)[:, None]  # (B, 1, I)
    new = []
    for k, state in enumerate(states):
        seq, state = layer(spec.cell, p, k, seq, state)  # (B, 1, H)
        new.append(state)
    return seq[:, -1] @ p["head.w"] + p["head.b"], new  # (B, O)


def layer(cell: str, p: Tensors, k: int, inputs: torch.Tensor, state: State | None = None
          ) -> tuple[torch.Tensor, State]:
    """Layer ``k`` over every step from ``state`` (h, c), zeros when None: every step's h and the last (h, c)."""
    w_h, b_h = p[f"{k}.w_h"], p[f"{k}.b_h"]
    batch, steps, hidden = inputs.shape[0], inputs.shape[1], w_h.shape[0]
    from_inputs = inputs @ p[f"{k}.w_x"] + p[f"{k}.b_x"]  # (B, T, G*H): every step's input part at once
    zeros = inputs.new_zeros(batch, hidden)  # (B, H)
    h, c = state if state is not None else (zeros, zeros)  # (B, H) each; c for the LSTM only
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
    return torch.stack(out, dim=1), (h, c)  # (B, T, H); the last h and c (B, H)


def loss_function(spec: ModelSpec) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss of each head as ``rnnbench.kit`` documents it, each a mean."""
    if spec.head == "lm":
        return lambda logits, y: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # over B*T
    if spec.head == "classify":
        return F.binary_cross_entropy_with_logits  # over B*O
    return F.mse_loss  # over B*O
