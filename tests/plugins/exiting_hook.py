"""Broken: its registration hook calls sys.exit(3), as a plugin that gives up on a missing dependency does."""

import sys

from rnnbench import hookimpl


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    sys.exit(3)
