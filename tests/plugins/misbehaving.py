"""Backends that fail the ways real ones do, for the runner's process-boundary tests.

Each is the NumPy reference with one fault injected in ``train_step``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from rnnbench import hookimpl
from rnnbench.backends.numpy_backend import NumpyBackend


class AbortingBackend(NumpyBackend):
    """Dies by SIGABRT mid-measurement, as a framework's failed C++ assertion does."""

    name = "aborts"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        model = super().build(spec, params, optimizer, device)
        model.train_step = lambda x, y: os.abort()  # type: ignore[method-assign]
        return model


class HangingBackend(NumpyBackend):
    """Never returns from a step, as a deadlocked device queue would."""

    name = "hangs"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        model = super().build(spec, params, optimizer, device)
        model.train_step = lambda x, y: time.sleep(3600)  # type: ignore[method-assign]
        return model


class MemoryHogBackend(NumpyBackend):
    """Reserves 64 MB blocks until the worker's memory limit stops it.

    The limit is on address space (RLIMIT_AS), which counts a block when it is reserved: touching its pages
    would only add seconds (7 s to 3 GB here), which a busy machine stretches past the test's timeout.
    """

    name = "hog"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        model = super().build(spec, params, optimizer, device)
        hoard: list[np.ndarray] = []

        def train_step(x, y):  # type: ignore[no-untyped-def]
            while True:
                hoard.append(np.empty(8 * 2**20))

        model.train_step = train_step  # type: ignore[method-assign]
        return model


class NanBackend(NumpyBackend):
    """Trains from a NaN weight, so every loss is NaN."""

    name = "nan"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        params = dict(params)
        params["head.w"] = np.full_like(params["head.w"], np.nan)
        return super().build(spec, params, optimizer, device)


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [AbortingBackend, HangingBackend, MemoryHogBackend, NanBackend]
