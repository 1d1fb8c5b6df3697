"""The NumPy reference offered as two implementations, "plain" and "also": the axis, cheaply.

The default follows the network, as tensorflow's does: "plain", and "also" from hidden size 64 up.
"""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backend import Implementation
from rnnbench.backends.numpy_backend import NumpyBackend
from rnnbench.spec import ModelSpec

WIDE = 64  # the hidden size from which "also" is the default


class TwoWaysBackend(NumpyBackend):
    name = "two_ways"

    def implementations(self) -> tuple[Implementation, ...]:
        return (Implementation("plain", "the reference, as it is", ("cpu",)),
                Implementation("also", "the reference again, under another name", ("cpu",)))

    def default_implementation(self, device: str, spec: ModelSpec | None = None) -> str:
        return "also" if spec is not None and spec.hidden_size >= WIDE else "plain"


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [TwoWaysBackend]
