"""This machine and this process, as both sides of the process boundary see them: the CPUs rnnbench may use,
the thread variables a worker starts with, and its address-space limit.

The manager sizes and starts workers with these; a worker applies them to itself
(``rnnbench.worker.parity``). It imports neither side.
"""

from __future__ import annotations

import os
import resource

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


def limit_memory(limit_mb: int | None) -> dict[str, str]:
    """Cap this process's address space (RLIMIT_AS) before any framework loads; what was applied."""
    if limit_mb is None:
        return {}
    if isinstance(limit_mb, bool) or not isinstance(limit_mb, int) or limit_mb < 1:
        raise UsageError(f"memory_limit_mb={limit_mb!r} is not valid. Accepted: an integer >= 1, or None")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = limit_mb * 1024 * 1024
    soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return {"memory_limit": f"RLIMIT_AS {soft // (1024 * 1024)} MB"}
