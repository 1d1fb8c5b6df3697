"""Inputs, heads and losses of the NumPy reference, time-major inside.

Data arrives batch-first (ModelSpec's layout) and is checked here, once per
call, so a bad batch fails with a message instead of a broadcasting error
deep in the numerics. Losses:

- lm: mean token cross-entropy over all B*T positions (log-sum-exp stable);
- classify: binary cross-entropy with logits from the last step, mean over
  B*O, in the stable form max(z, 0) - z*y + log1p(exp(-|z|));
- regress: mean squared error over B*O from the last step.
"""

from __future__ import annotations

import numpy as np

from rnnbench.spec import ModelSpec


def embed(table: np.ndarray, ids: np.ndarray, out: np.ndarray) -> None:
    """out <- the token vectors of ``ids`` (B, T), time-major (T, B, D)."""
    # check_inputs vetted the ids; mode "raise" would copy through a buffer
    np.take(table, ids.T, axis=0, out=out, mode="clip")  # (T, B, D)


def embed_backward(d_table: np.ndarray, ids: np.ndarray, dx: np.ndarray) -> None:
    """d_table <- dL/d(table), summing dx (T, B, D) into the rows the ids picked."""
    d_table.fill(0)
    np.add.at(d_table, ids.T.reshape(-1), dx.reshape(-1, d_table.shape[1]))


def last_step(spec: ModelSpec) -> bool:
    """True when the head reads only the last step's hidden state."""
    return spec.head != "lm"


def head_forward(spec: ModelSpec, w: np.ndarray, b: np.ndarray, h_top: np.ndarray, out: np.ndarray) -> None:
    """out <- the head's output: (T*B, O) logits for lm, (B, O) from the last step otherwise."""
    h = h_top[-1] if last_step(spec) else h_top.reshape(-1, h_top.shape[2])  # (B, H) or (T*B, H)
    np.matmul(h, w.T, out=out)
    out += b


def head_loss(spec: ModelSpec, out: np.ndarray, y: np.ndarray, dout: np.ndarray) -> float:
    """The loss of ``out`` against ``y`` (batch-first); writes dL/d(out) into ``dout``."""
    if spec.head == "lm":
        return cross_entropy(out, y.T.reshape(-1), dout)  # time-major targets, like out's rows
    if spec.head == "classify":
        return bce_with_logits(out, y, dout)
    return mean_squared_error(out, y, dout)


def cross_entropy(logits: np.ndarray, target: np.ndarray, dlogits: np.ndarray) -> float:
    """Mean softmax cross-entropy of (N, O) logits against (N,) classes."""
    n = len(target)
    rows = np.arange(n)
    peak = logits.max(axis=1, keepdims=True)  # (N, 1) keeps exp from overflowing
    np.subtract(logits, peak, out=dlogits)
    np.exp(dlogits, out=dlogits)
    total = dlogits.sum(axis=1, keepdims=True)  # (N, 1)
    log_z = peak[:, 0] + np.log(total[:, 0])  # (N,) log-sum-exp
    loss = float(np.mean(log_z - logits[rows, target]))
    dlogits /= total  # softmax
    dlogits[rows, target] -= 1
    dlogits /= n
    return loss


def bce_with_logits(z: np.ndarray, y: np.ndarray, dz: np.ndarray) -> float:
    """Mean binary cross-entropy of (B, O) logits against 0/1 targets."""
    y = y.astype(z.dtype, copy=False)
    loss = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
    np.multiply(z, 0.5, out=dz)
    np.tanh(dz, out=dz)
    dz *= 0.5
    dz += 0.5  # sigmoid(z), stable for any z
    dz -= y
    dz /= z.size
    return loss


def mean_squared_error(pred: np.ndarray, y: np.ndarray, dpred: np.ndarray) -> float:
    """Mean of (pred - y)^2 over all (B, O) entries."""
    np.subtract(pred, y, out=dpred, casting="same_kind")
    loss = float(np.mean(np.square(dpred)))
    dpred *= 2 / pred.size
    return loss


def head_backward(spec: ModelSpec, w: np.ndarray, h_top: np.ndarray, dout: np.ndarray,
                  d_w: np.ndarray, d_b: np.ndarray, dh_top: np.ndarray) -> None:
    """Gradients of the head's weights, and dL/dh (T, B, H) for the top layer.

    For a last-step head only dh_top[-1] is written: the other steps stay
    zero from allocation.
    """
    if last_step(spec):
        h, dh = h_top[-1], dh_top[-1]  # (B, H)
    else:
        h, dh = h_top.reshape(-1, h_top.shape[2]), dh_top.reshape(-1, dh_top.shape[2])  # (T*B, H)
    np.matmul(dout.T, h, out=d_w)  # (O, H)
    np.sum(dout, axis=0, out=d_b)
    np.matmul(dout, w, out=dh)


def present(spec: ModelSpec, out: np.ndarray, steps: int, batch: int) -> np.ndarray:
    """A fresh batch-first copy of the head's output: (B, T, O) for lm, (B, O) otherwise."""
    if last_step(spec):
        return out.copy()
    return out.reshape(steps, batch, -1).transpose(1, 0, 2).copy()
