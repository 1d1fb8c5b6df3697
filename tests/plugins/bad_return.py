"""Broken: registers an instance-less string instead of a Backend class."""

from rnnbench import hookimpl


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return ["not a class"]
