"""Child processes that hear Ctrl-C as they would when started from a terminal."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


def hears_ctrl_c() -> None:
    """A ``preexec_fn``: SIGINT back to its default, so the child's Python turns it into KeyboardInterrupt.

    bash starts a background job (``pytest ... &``) with SIGINT ignored, children inherit that, and a
    Python started with SIGINT ignored never raises KeyboardInterrupt: the Ctrl-C tests would then pass
    or fail by how the suite was launched.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def ctrl_c_raises() -> Iterator[None]:
    """In this process: SIGINT raises KeyboardInterrupt, as at a terminal, whatever the suite inherited."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
