"""The process settings numpy honours: the BLAS thread pool, and the BLAS it was built with."""

from __future__ import annotations

import functools

import numpy as np

from rnnbench.backend import ParitySettings


@functools.cache
def blas_library() -> str:
    """The BLAS numpy was built against, from its build configuration ("unknown" if not recorded)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except (KeyError, TypeError, AttributeError):
        return "unknown"


def configure(settings: ParitySettings) -> dict[str, str]:
    """Limit the BLAS pool to ``settings.threads`` with threadpoolctl.

    The thread variables only count when numpy loads, and the core has
    numpy loaded already, so the limit is set on the live BLAS library.
    NumPy has no switch to flush denormals to zero.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=settings.threads, user_api="blas")
    pools = [f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info() if p["user_api"] == "blas"]
    denormals = "not supported by numpy: kept" if settings.flush_denormals else "kept (numpy default)"
    return {"threads": f"BLAS threads: {', '.join(pools) or 'no BLAS pool found'}", "flush_denormals": denormals}
