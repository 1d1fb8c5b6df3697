"""Moved to ``rnnbench.plugins.registry``; this path re-exports it for one release."""

import warnings

from rnnbench.plugins.registry import *  # noqa: F403
from rnnbench.plugins.registry import Entry, Registry  # noqa: F401

warnings.warn("rnnbench.registry moved to rnnbench.plugins.registry; the old path goes in the next release",
              DeprecationWarning, stacklevel=2)
