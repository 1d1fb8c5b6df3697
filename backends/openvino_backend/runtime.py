"""OpenVINO's settings: threads, denormals and precision through the CPU plugin's compile properties.

Imported lazily (``configure``/``build``): this module imports openvino. The
properties are given to each compiled model; what ``configure`` chose is
kept here for every model this process builds, and recorded by its
``runtime_info``.
"""

from __future__ import annotations

from typing import Any

import openvino as ov

from rnnbench.backend import ParitySettings
from rnnbench.spec import ModelSpec

APPLIED: dict[str, str] = {}  # what configure() chose in this process; replaced by each call
_SETTINGS: list[ParitySettings] = []  # the latest settings, read by each model compiled after them
CORE: list[ov.Core] = []  # one Core per process, made on first use


def core() -> ov.Core:
    if not CORE:
        CORE.append(ov.Core())
    return CORE[0]


def configure(settings: ParitySettings) -> dict[str, str]:
    _SETTINGS[:] = [settings]
    APPLIED.clear()
    APPLIED.update({"threads": str(settings.threads), "flush_denormals": str(settings.flush_denormals)})
    return dict(APPLIED)


def compile_properties(spec: ModelSpec, hint: str) -> dict[str, Any]:
    """The CPU plugin's properties for one model: the hint, the precision the spec computes in, and the
    configured threads and denormal mode (the plugin's defaults before any ``configure``)."""
    properties: dict[str, Any] = {
        "PERFORMANCE_HINT": hint,
        # The plugin would run float32 in bfloat16 where the CPU has bfloat16 units: set it, always.
        "INFERENCE_PRECISION_HINT": "bf16" if spec.autocast == "bfloat16" else "f32",
        # The core pins the process to its CPUs (affinity); the plugin must not re-pin threads inside them.
        "ENABLE_CPU_PINNING": False,
    }
    if _SETTINGS:
        properties["INFERENCE_NUM_THREADS"] = _SETTINGS[0].threads
        properties["CPU_DENORMALS_OPTIMIZATION"] = _SETTINGS[0].flush_denormals
    return properties
