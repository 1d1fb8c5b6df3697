"""The one guard around plugin code: whatever a hook or a Backend's metadata raises becomes one line.

Every call the core makes into a plugin outside a worker's case (registration hooks, ``available``,
``versions``, ``implementations``, the defaults, and ``build`` in ``rnnbench check``) runs inside
``guard``. A failure, ``SystemExit`` included, becomes a ``PluginError`` that names the plugin, its
distribution and version, what failed, and how to block the plugin. Ctrl-C still interrupts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rnnbench.errors import PluginError, UsageError
from rnnbench.printable import printable

if TYPE_CHECKING:
    from rnnbench.plugins import Origin

MAX_CHARS = 300  # of the exception's text, so the line stays one readable line
BLOCK_ENV = "RNNBENCH_BLOCK_PLUGINS"  # comma-separated plugin names that are never registered


class PluginFault(PluginError):
    """Plugin code failed; the message already names the plugin (an inner guard's message is kept)."""


def describe_exception(exc: BaseException) -> str:
    """"Type: message" on one line; ``sys.exit(N)`` as "SystemExit: sys.exit(N)"."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: sys.exit({exc.code!r})"
    text = printable(" ".join(str(exc).split()))  # one line, and no escape sequence reaches a terminal
    text = text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fault_message(origin: Origin, what: str, problem: str) -> str:
    """One line: the plugin, its distribution, what failed and how, and how to block it."""
    return plugin_line(origin, f"failed in {what}: {problem}")


def plugin_line(origin: Origin, what: str) -> str:
    """"Plugin NAME (its distribution) WHAT. Fix or uninstall it, or block it with ...": every plugin fault."""
    return (f"Plugin {origin.plugin!r} ({origin.describe()}) {what}. "
            f"Fix or uninstall it, or block it with {BLOCK_ENV}={origin.plugin}")


@contextlib.contextmanager
def guard(origin: Origin, what: str) -> Iterator[None]:
    """Run plugin code; any failure (``SystemExit`` included, Ctrl-C excepted) becomes a ``PluginFault``."""
    try:
        yield
    except (PluginFault, UsageError):  # a refusal the contract provides for (tf32 on a CPU): the backend's own line
        raise
    except (Exception, SystemExit) as exc:  # plugin code may fail in any way: it is named, not hidden
        raise PluginFault(fault_message(origin, what, describe_exception(exc))) from exc
