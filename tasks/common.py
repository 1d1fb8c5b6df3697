"""Helpers the built-in tasks share: seeded batch orders and metrics computed with NumPy.

Every metric is computed here from a backend's ``predict`` output, never by
the framework, so all backends are scored by the same code.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rnnbench.task import Batch

TRAIN_STREAM = 0x7A11  # the stream of training orders drawn from a run's seed
SAMPLE_STREAM = 0x5A3E  # the stream of sampled text


def stream(seed: int, purpose: int) -> np.random.Generator:
    """A PCG64 generator for one purpose of one seed, independent of the others."""
    return np.random.default_rng([purpose, seed])


def epoch_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> Iterator[Batch]:
    """Endless batches: each epoch is a fresh seeded permutation, its last partial batch dropped.

    Dropping the remainder keeps every batch the same shape (one compilation
    for XLA and tf.function); a different permutation each epoch means every
    example is still seen.
    """
    rng = stream(seed, TRAIN_STREAM)
    per_epoch = len(x) // batch_size
    while True:
        order = rng.permutation(len(x))  # (N,)
        for b in range(per_epoch):
            rows = np.sort(order[b * batch_size:(b + 1) * batch_size])  # sorted: faster gathers, same set
            yield x[rows], y[rows]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, in float64."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood (nats) of integer ``targets`` under ``logits`` (..., V)."""
    logp = log_softmax(logits)  # (..., V)
    picked = np.take_along_axis(logp, targets[..., None].astype(np.int64), axis=-1)  # (..., 1)
    return float(-picked.mean())


def binary_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy (logit > 0 means 1) and mean binary cross-entropy with logits."""
    z, t = logits.astype(np.float64), labels.astype(np.float64)
    loss = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))  # stable BCE-with-logits
    return {"accuracy": float(((z > 0) == (t > 0.5)).mean()), "loss": float(loss.mean())}


def errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Mean squared and mean absolute error over every element, in float64."""
    diff = pred.astype(np.float64) - true.astype(np.float64)
    return {"mse": float(np.mean(diff ** 2)), "mae": float(np.mean(np.abs(diff)))}


def persistence(x: np.ndarray, horizon: int, columns: list[int]) -> np.ndarray:
    """The naive forecast: the last observed value of each target column, repeated over the horizon.

    ``x`` is (N, lookback, F); the result is (N, horizon, len(columns)).
    """
    last = x[:, -1, columns]  # (N, F_out)
    return np.repeat(last[:, None, :], horizon, axis=1)  # (N, horizon, F_out)
