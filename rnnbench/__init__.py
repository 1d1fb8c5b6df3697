"""rnnbench: fair, reproducible benchmarks of RNNs across NumPy, PyTorch, TensorFlow and JAX.

Importing this package imports no deep-learning framework.
"""

from __future__ import annotations

import pluggy

from rnnbench.hookspecs import PROJECT

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marker for plugin hook implementations: ``@hookimpl def rnnbench_register_backends(): ...``."""

# The public API, imported on first use so `import rnnbench` stays light.
_LAZY = {
    "load_results": ("rnnbench.results.frame", "load_results"),
    "run": ("rnnbench.manager.runner", "run"),
    "RunOptions": ("rnnbench.manager.options", "RunOptions"),
    "train": ("rnnbench.worker.training", "train"),
    "check": ("rnnbench.conformance", "run_check"),
    "html_report": ("rnnbench.report.html", "html_report"),
    "compare_runs": ("rnnbench.report.compare", "compare_runs"),
    "publish": ("rnnbench.report.publish", "publish"),
}

__all__ = ["__version__", "hookimpl", *_LAZY]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'rnnbench' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
