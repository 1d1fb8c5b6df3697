"""rnnbench: fair, reproducible benchmarks of RNNs across NumPy, PyTorch, TensorFlow and JAX.

Importing this package imports no deep-learning framework.
"""

from __future__ import annotations

import pluggy

from rnnbench.hookspecs import PROJECT

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marker for plugin hook implementations: ``@hookimpl def rnnbench_register_backends(): ...``."""

__all__ = ["__version__", "hookimpl"]
