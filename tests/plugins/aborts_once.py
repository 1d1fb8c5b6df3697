"""The NumPy reference that dies by SIGABRT in the first process that steps it, and works in every later one.

The marker file (``RNNBENCH_TEST_ABORT_MARKER``) remembers that a process has
died; a case run again in a fresh process then finishes.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnbench import hookimpl
from rnnbench.backends.numpy_backend import NumpyBackend


class AbortsOnceBackend(NumpyBackend):
    name = "aborts_once"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        model = super().build(spec, params, optimizer, device)
        marker, step = Path(os.environ["RNNBENCH_TEST_ABORT_MARKER"]), model.train_step

        def train_step(x, y):  # type: ignore[no-untyped-def]
            if not marker.exists():
                marker.write_text("died once")
                os.abort()
            step(x, y)

        model.train_step = train_step  # type: ignore[method-assign]
        return model


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [AbortsOnceBackend]
