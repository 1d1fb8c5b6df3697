"""ONNX Runtime's settings: threads and denormals through its session options.

Imported lazily (``configure``/``build``): this module imports onnxruntime.
ONNX Runtime has no process-wide thread setting; each session takes its own,
so what ``configure`` chose is kept here and given to every session this
process builds, and recorded by its ``runtime_info``.
"""

from __future__ import annotations

import onnxruntime as ort

from rnnbench.backend import ParitySettings

APPLIED: dict[str, str] = {}  # what configure() chose in this process; replaced by each call
_SETTINGS: list[ParitySettings] = []  # the latest settings, read by each session built after them


def configure(settings: ParitySettings) -> dict[str, str]:
    _SETTINGS[:] = [settings]
    APPLIED.clear()
    APPLIED.update({"threads": str(settings.threads), "inter_op_threads": "1",
                    "flush_denormals": str(settings.flush_denormals)})
    return dict(APPLIED)


def session_options(level: str) -> ort.SessionOptions:
    """A session's options: the graph optimisation ``level``, one sequential stream of work, and the
    configured threads (ONNX Runtime's default, every core, before any ``configure``)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1  # one graph, run in sequence: the intra-op pool is the one that counts
    if _SETTINGS:
        options.intra_op_num_threads = _SETTINGS[0].threads
        # ONNX Runtime keeps denormals unless told; the "tuned" setting flushes them to zero.
        options.add_session_config_entry("session.set_denormal_as_zero", "1" if _SETTINGS[0].flush_denormals else "0")
    return options
