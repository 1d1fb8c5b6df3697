"""Process-wide parity settings: the same CPUs and thread count for every framework.

Each framework listens to a different knob (DESIGN.md, "Parity settings"):
JAX on the CPU obeys only CPU affinity, TensorFlow only its own threading
API, torch its set_num_threads, NumPy's BLAS its environment variables or
threadpoolctl. The core pins the process to the first ``threads`` usable
CPUs (which binds every framework, JAX included) and sets the thread
variables for libraries loaded later; each backend's ``configure`` applies
its framework's own mechanism on top.
"""

from __future__ import annotations

import os

from rnnbench.backend import ParitySettings
from rnnbench.errors import UsageError

# Read by OpenBLAS, MKL, OpenMP runtimes and Accelerate when they load.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def usable_cpus() -> list[int]:
    """The CPUs this process may run on, in ascending order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def thread_environment(threads: int) -> dict[str, str]:
    """Variables to set in a worker's environment before any library loads."""
    return {name: str(threads) for name in THREAD_ENV_VARS}


def pin_process(settings: ParitySettings) -> dict[str, str]:
    """Restrict this process to ``settings.threads`` CPUs; return what was applied."""
    cpus = usable_cpus()
    if not 1 <= settings.threads <= len(cpus):
        raise UsageError(f"threads={settings.threads} is not valid. Accepted: 1 to {len(cpus)} on this machine")
    chosen = cpus[: settings.threads]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, chosen)
    os.environ.update(thread_environment(settings.threads))
    return {"cpu_affinity": ",".join(map(str, chosen)), "threads": str(settings.threads)}
