"""Broken: registers a backend under the built-in name "numpy"."""

from rnnbench import hookimpl
from rnnbench.backend import Backend


class AnotherNumpy(Backend):
    name = "numpy"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        raise AssertionError("never built")


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [AnotherNumpy]
