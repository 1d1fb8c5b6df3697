"""The plugin kit: what every backend would otherwise derive again, written once.

A backend author writes the framework code; the parts of the contract that
are the same in every framework live here, in NumPy, documented:

- ``parse_device``: the contract's device names ("cpu", "gpu:N") read back;
- ``check_batch`` (and ``check_inputs``): the data contract of each head, run
  once per case by the core before anything is timed, so no backend needs
  its own copy;
- ``model_inputs``: x and y in the dtype each head feeds a framework;
- ``lm_loss``, ``classify_loss``, ``regress_loss`` (``head_loss``): the loss
  of each head that ``loss_and_grads`` and ``train_step`` minimise, as
  reference functions of the head's output;
- ``clip_coefficient`` and ``CLIP_EPS``: torch's global-norm clipping rule,
  which ``OptimizerSpec.clip_norm`` names, for any array library;
- ``reorder_blocks``: gate blocks permuted, for frameworks whose gate order
  differs from the canonical one (Keras' GRU keeps z, r, h for r, z, n).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from rnnbench.errors import UsageError
from rnnbench.spec import ModelSpec

CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides clip_norm by (norm + 1e-6)

DeviceKind = Literal["cpu", "gpu"]


def parse_device(device: str) -> tuple[DeviceKind, int]:
    """("cpu", 0) for "cpu", ("gpu", N) for "gpu:N"; UsageError for any other name."""
    if device == "cpu":
        return "cpu", 0
    index = device.removeprefix("gpu:")
    if device.startswith("gpu:") and index.isdigit():
        return "gpu", int(index)
    raise UsageError(f"device {device!r} is not a device name. Accepted: cpu, gpu:N (N = 0, 1, ...)")


def check_batch(spec: ModelSpec, x: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                seq_len: int | None = None) -> None:
    """Raise UsageError unless (x, y) is a batch of ``spec``'s data contract (and of B, T when given).

    x: int (B, T) token ids in [0, vocab) for an embedding input, else
    floats (B, T, features). y: int (B, T) classes in [0, O) for the lm
    head, floats (B, O) for classify (0/1 targets) and regress.
    """
    check_inputs(spec, x)
    batch, steps = np.shape(x)[0], np.shape(x)[1]
    for name, want, got in (("batch size", batch_size, batch), ("sequence length", seq_len, steps)):
        if want is not None and got != want:
            raise UsageError(f"the batch has {name} {got}. Accepted: {want}, the case's")
    _check_y(spec, np.asarray(y), batch, steps)


def check_inputs(spec: ModelSpec, x: np.ndarray) -> None:
    """Raise UsageError unless ``x`` is the input of ``spec``: int (B, T) ids in [0, vocab), or floats (B, T, F)."""
    x = np.asarray(x)
    if spec.embedded:
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise UsageError(f"x has shape {x.shape} and dtype {x.dtype}. Accepted: integer token ids (B, T)")
        if x.size and (x.min() < 0 or x.max() >= spec.vocab_size):  # type: ignore[operator]
            raise UsageError(f"x holds token ids in [{x.min()}, {x.max()}]. Accepted: ids in [0, {spec.vocab_size})")
    elif x.ndim != 3 or x.shape[2] != spec.input_features or not np.issubdtype(x.dtype, np.floating):
        raise UsageError(f"x has shape {x.shape} and dtype {x.dtype}. Accepted: floats (B, T, {spec.input_features})")
    if 0 in x.shape[:2]:
        raise UsageError(f"x has shape {x.shape}. Accepted: at least one sample of at least one step")


def _check_y(spec: ModelSpec, y: np.ndarray, batch: int, steps: int) -> None:
    if spec.head == "lm":
        if y.shape != (batch, steps) or not np.issubdtype(y.dtype, np.integer):
            raise UsageError(f"y has shape {y.shape} and dtype {y.dtype}. Accepted: integer classes (B, T) = "
                             f"({batch}, {steps})")
        if y.size and (y.min() < 0 or y.max() >= spec.output_size):
            raise UsageError(f"y holds classes in [{y.min()}, {y.max()}]. Accepted: [0, {spec.output_size})")
        return
    if y.shape != (batch, spec.output_size) or not np.issubdtype(y.dtype, np.floating):
        raise UsageError(f"y has shape {y.shape} and dtype {y.dtype}. Accepted: floats (B, O) = "
                         f"({batch}, {spec.output_size})")
    if spec.head == "classify" and not np.isin(y, (0.0, 1.0)).all():
        raise UsageError("y holds classify targets other than 0 and 1. Accepted: 0/1 floats")


def model_inputs(spec: ModelSpec, x: np.ndarray, y: np.ndarray | None = None, ids: Any = np.int64
                 ) -> tuple[np.ndarray, ...]:
    """(x,) or (x, y) as contiguous arrays: token ids and lm classes as ``ids``, floats in the spec's dtype."""
    x = np.ascontiguousarray(x, dtype=ids if spec.embedded else spec.dtype)
    if y is None:
        return (x,)
    return x, np.ascontiguousarray(y, dtype=ids if spec.head == "lm" else spec.dtype)


# ---- the loss of each head: what every backend's loss_and_grads returns ----------------------


def lm_loss(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy over all B*T steps: logits (B, T, O), y int (B, T)."""
    flat = np.asarray(logits, np.float64).reshape(-1, logits.shape[-1])  # (B*T, O)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))  # (B*T,)
    picked = shifted[np.arange(flat.shape[0]), np.asarray(y).reshape(-1)]
    return float(np.mean(log_z - picked))


def classify_loss(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy with logits over all B*O outputs: logits (B, O), y 0/1 (B, O)."""
    z, t = np.asarray(logits, np.float64), np.asarray(y, np.float64)
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))  # stable for any |z|


def regress_loss(values: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error over all B*O outputs: values (B, O), y (B, O)."""
    return float(np.mean((np.asarray(values, np.float64) - np.asarray(y, np.float64)) ** 2))


HEAD_LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "lm": lm_loss, "classify": classify_loss, "regress": regress_loss}


def head_loss(spec: ModelSpec, output: np.ndarray, y: np.ndarray) -> float:
    """The loss of ``spec``'s head for its ``predict`` output on targets ``y``."""
    return HEAD_LOSSES[spec.head](output, y)


# ---- optimiser helpers ------------------------------------------------------------------------


def clip_coefficient(norm: Any, clip_norm: float, minimum: Callable[[Any, Any], Any] = min) -> Any:
    """The factor torch's clip_grad_norm_ scales every gradient by: clip_norm / (norm + 1e-6), at most 1.

    ``minimum`` is the array library's (``jnp.minimum``, ``tf.minimum``), so
    the coefficient stays on the device inside a compiled step.
    """
    return minimum(clip_norm / (norm + CLIP_EPS), 1.0)


def reorder_blocks(a: np.ndarray, order: Sequence[int], axis: int) -> np.ndarray:
    """The equal gate blocks of ``a`` along ``axis``, taken in ``order`` (e.g. (1, 0, 2): r, z, n -> z, r, n)."""
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[i] for i in order], axis=axis)
