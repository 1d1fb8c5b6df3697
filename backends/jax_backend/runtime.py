"""Importing jax, its devices and the process settings it honours (see the package docstring).

Nothing here imports jax at module import: ``import_jax`` does, the first
time a device, ``configure`` or ``build`` needs it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

PREALLOCATE_ENV = "XLA_PYTHON_CLIENT_PREALLOCATE"
GPU_FTZ_FLAG = "--xla_gpu_ftz=true"


def import_jax() -> Any:
    """``import jax``, first disabling GPU preallocation if jax is not imported yet."""
    if "jax" not in sys.modules:
        os.environ.setdefault(PREALLOCATE_ENV, "false")
    import jax

    return jax


def preallocate_setting() -> str:
    value = os.environ.get(PREALLOCATE_ENV)
    return value if value is not None else "unset (jax was imported before rnnbench; XLA default true)"


def gpus(jax: Any) -> list[Any]:
    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # no GPU platform in this jaxlib, or no GPU present
        return []


def cpu_affinity() -> str:
    if not hasattr(os, "sched_getaffinity"):
        return "unknown (no os.sched_getaffinity on this platform)"
    return ",".join(map(str, sorted(os.sched_getaffinity(0))))


def request_gpu_ftz(flush: bool) -> str:
    """Add the XLA:GPU flush-to-zero flag when asked and still possible; say what holds."""
    flags = os.environ.get("XLA_FLAGS", "")
    if GPU_FTZ_FLAG in flags:
        return f"flushed ({GPU_FTZ_FLAG} in XLA_FLAGS)"
    if not flush:
        return "kept (XLA:GPU default, xla_gpu_ftz=false)"
    if "jax" in sys.modules:
        return "kept: flush requested but jax was imported before configure, so XLA_FLAGS cannot change"
    os.environ["XLA_FLAGS"] = f"{flags} {GPU_FTZ_FLAG}".strip()
    return f"flushed ({GPU_FTZ_FLAG} added to XLA_FLAGS)"
