"""The NumPy reference offered as two implementations, "plain" (the default) and "also": the axis, cheaply."""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backend import Implementation
from rnnbench.backends.numpy_backend import NumpyBackend


class TwoWaysBackend(NumpyBackend):
    name = "two_ways"

    def implementations(self) -> tuple[Implementation, ...]:
        return (Implementation("plain", "the reference, as it is", ("cpu",)),
                Implementation("also", "the reference again, under another name", ("cpu",)))


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [TwoWaysBackend]
