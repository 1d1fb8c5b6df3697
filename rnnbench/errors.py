"""The one small error hierarchy of rnnbench.

The CLI prints an ``RnnbenchError`` as one line and exits non-zero; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class RnnbenchError(Exception):
    """A problem the user or a plugin can fix; shown as one line."""

    exit_code = 1


class UsageError(RnnbenchError):
    """Bad input: an unknown name, an invalid value, a bad combination."""

    exit_code = 2


class SpecError(UsageError, ValueError):
    """A ModelSpec or OptimizerSpec that breaks a stated rule."""


class PluginError(RnnbenchError):
    """A plugin failed to load, misspelled a hook or registered a bad class."""


class BackendUnavailable(UsageError):
    """A backend was named explicitly but its framework is not installed."""



class ResultsWriteError(RnnbenchError):
    """A result file could not be written (a full disk, a read-only folder); nothing finished is lost."""
