"""Broken: its registration hook raises, so it registers nothing; the other plugins must still load."""

from rnnbench import hookimpl


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    raise RuntimeError("the hook blew up")
