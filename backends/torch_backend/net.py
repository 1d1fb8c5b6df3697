"""The common model as a plain ``nn.Module``, and its canonical layout.

Imported only from ``TorchBackend.build``: this module imports torch.

The network is what a PyTorch user writes: ``nn.Embedding`` (or dense
input) -> one stacked ``nn.RNN`` (tanh) / ``nn.LSTM`` / ``nn.GRU`` with
``num_layers`` and ``batch_first=True`` -> ``nn.Linear``. Those modules
already use the canonical layout: rows stacked i,f,g,o (LSTM) and r,z,n
(GRU, with b_hn inside r * (...)), two biases per layer, so conversion is a
renaming, done in place so cuDNN's flattened weight buffer stays intact.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rnnbench.spec import ModelSpec

RNN_CLASSES: dict[str, Any] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
TORCH_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


class RnnNet(nn.Module):
    """Input -> stacked recurrent layers -> head, batch-first in and out."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.lm_head = spec.head == "lm"
        self.embed = nn.Embedding(int(spec.vocab_size), int(spec.embedding_dim)) if spec.embedded else None  # type: ignore[arg-type]
        rnn_cls = RNN_CLASSES[spec.cell]
        extra = {"nonlinearity": "tanh"} if spec.cell == "rnn" else {}
        self.rnn = rnn_cls(
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


