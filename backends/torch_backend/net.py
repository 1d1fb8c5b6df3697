"""The common model as a plain ``nn.Module``, and its canonical layout.

Imported only from ``TorchBackend.build``: this module imports torch.

The network is what a PyTorch user writes: ``nn.Embedding`` (or dense
input) -> one stacked ``nn.RNN`` (tanh) / ``nn.LSTM`` / ``nn.GRU`` with
``num_layers`` and ``batch_first=True`` -> ``nn.Linear``. Those modules
already use the canonical layout: rows stacked i,f,g,o (LSTM) and r,z,n
(GRU, with b_hn inside r * (...)), two biases per layer, so conversion is a
renaming, done in place so cuDNN's flattened weight buffer stays intact.

The "loop" and "compiled" implementations replace the recurrent module by
``LoopRnn``: the same parameters under the same names, the cells written
out as a Python loop over the steps (what ``torch.compile`` can fuse).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rnnbench.spec import ModelSpec

RNN_CLASSES: dict[str, Any] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
TORCH_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


class LoopRnn(nn.Module):
    """Stacked cells stepped in Python, with nn.RNN's parameter names and batch-first shapes.

    Per layer, one matmul projects the inputs of all steps (as ATen's own
    CPU loop does), then each step adds ``h @ W_hh^T + b_hh`` and applies the
    gates. Autograd differentiates the loop.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.cell, self.input_size, self.hidden_size = spec.cell, spec.layer_input_size(0), spec.hidden_size
        self.num_layers = spec.num_layers
        g_h = spec.gates * spec.hidden_size
        for k in range(spec.num_layers):  # values come from load_canonical
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(g_h, spec.layer_input_size(k))))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.empty(g_h, spec.hidden_size)))
            setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(g_h)))
            setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.empty(g_h)))

    def forward(self, x: torch.Tensor, hx: Any = None) -> tuple[torch.Tensor, Any]:
        """Every step's top-layer h, (B, T, H), and the last states, both as nn.RNN/nn.LSTM returns them.

        ``hx`` as theirs too: h (L, B, H), or (h, c) for the LSTM; zero states when None.
        """
        if hx is None:
            zeros = x.new_zeros(self.num_layers, x.shape[0], self.hidden_size)  # (L, B, H)
            hx = (zeros, zeros) if self.cell == "lstm" else zeros
        h0, c0 = hx if self.cell == "lstm" else (hx, hx)  # c0 unused but by the LSTM
        seq, hs, cs = x, [], []  # seq (B, T, I)
        for k in range(self.num_layers):
            seq, h, c = self._layer(k, seq, h0[k], c0[k])  # (B, T, H), (B, H), (B, H)
            hs.append(h)
            cs.append(c)
        h_n = torch.stack(hs)  # (L, B, H)
        return seq, ((h_n, torch.stack(cs)) if self.cell == "lstm" else h_n)

    def _layer(self, k: int, inputs: torch.Tensor, h: torch.Tensor, c: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w_hh, b_hh = getattr(self, f"weight_hh_l{k}"), getattr(self, f"bias_hh_l{k}")
        from_inputs = F.linear(inputs, getattr(self, f"weight_ih_l{k}"), getattr(self, f"bias_ih_l{k}"))  # (B, T, G*H)
        out = []
        for t in range(inputs.shape[1]):
            gx, gh = from_inputs[:, t], F.linear(h, w_hh, b_hh)  # (B, G*H) each
            if self.cell == "rnn":
                h = torch.tanh(gx + gh)  # (B, H)
            elif self.cell == "lstm":
                i, f, g, o = (gx + gh).chunk(4, dim=1)  # 4 x (B, H), gates i, f, g, o
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:  # gru, gates r, z, n: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
                x_r, x_z, x_n = gx.chunk(3, dim=1)  # 3 x (B, H)
                h_r, h_z, h_n = gh.chunk(3, dim=1)  # 3 x (B, H)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                h = (1 - z) * torch.tanh(x_n + r * h_n) + z * h
            out.append(h)
        return torch.stack(out, dim=1), h, c  # (B, T, H), the last h and c (B, H)


class RnnNet(nn.Module):
    """Input -> stacked recurrent layers -> head, batch-first in and out."""

    def __init__(self, spec: ModelSpec, loop: bool = False) -> None:
        super().__init__()
        self.lm_head = spec.head == "lm"
        self.embed = nn.Embedding(int(spec.vocab_size), int(spec.embedding_dim)) if spec.embedded else None  # type: ignore[arg-type]
        self.rnn: nn.Module
        if loop:
            self.rnn = LoopRnn(spec)
        else:
            extra = {"nonlinearity": "tanh"} if spec.cell == "rnn" else {}
            self.rnn = RNN_CLASSES[spec.cell](
                spec.layer_input_size(0), spec.hidden_size, num_layers=spec.num_layers, bias=True,
                batch_first=True, dropout=0.0, bidirectional=False, **extra,
            )
        self.head = nn.Linear(spec.hidden_size, spec.output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits or values: (B, T, O) for the lm head, (B, O) otherwise."""
        h = self.embed(x) if self.embed is not None else x  # (B, T, I)
        out, _ = self.rnn(h)  # (B, T, H); zero initial states
        if self.lm_head:
            return self.head(out)  # (B, T, O)
        return self.head(out[:, -1])  # (B, O) from the last step

    def step(self, x: torch.Tensor, hx: Any) -> tuple[torch.Tensor, Any]:
        """One step of streaming inference from the states ``hx`` (nn.RNN's: h (L, B, H), or (h, c) for the
        LSTM): the head's output on the new top h, (B, O), and the new states, the recurrent module run on a
        sequence of one step."""
        h = self.embed(x) if self.embed is not None else x  # (B, 1, I)
        out, hx = self.rnn(h, hx)  # (B, 1, H)
        return self.head(out[:, -1]), hx  # (B, O)


def loss_function(spec: ModelSpec):  # type: ignore[no-untyped-def]
    """The head's loss as ``fn(output, y) -> scalar``, each a mean as ModelSpec says."""
    if spec.head == "lm":
        o = spec.output_size

        def lm_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            # mean token cross-entropy over all B*T positions
            return F.cross_entropy(logits.reshape(-1, o), y.reshape(-1))  # (B*T, O) vs (B*T,)

        return lm_loss
    if spec.head == "classify":
        return F.binary_cross_entropy_with_logits  # mean over B*O
    return F.mse_loss  # mean over B*O


