"""Broken: the hook name lacks its final "s", so no spec matches it."""

from rnnbench import hookimpl


@hookimpl
def rnnbench_register_backend():  # type: ignore[no-untyped-def]
    return []
