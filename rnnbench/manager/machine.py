"""The environment of a run: the machine, the software and the measured matmul peak.

Framework versions are read from package metadata (nothing is imported);
the GPU from ``nvidia-smi`` when it exists. The matmul peak is NumPy's
float32 ``A @ B`` rate on this machine, measured once per run, so achieved
FLOP/s can be shown as a share of what the machine does at best.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench import __version__
from rnnbench.backend import installed_versions
from rnnbench.host import usable_cpus

FRAMEWORKS = ("numpy", "torch", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "optax", "pandas")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs (name, driver, memory) from nvidia-smi; empty without one."""
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    rows = [line.split(", ") for line in out.strip().splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) == 3]


def framework_versions() -> dict[str, str]:
    return installed_versions(FRAMEWORKS)


def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries NumPy runs on, with their thread counts."""
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "num_threads", "architecture")
    return [{k: p.get(k) for k in keys} for p in threadpool_info() if p.get("user_api") == "blas"]


def git_commit(path: Path) -> str | None:
    """The commit of the rnnbench checkout, with '+dirty' for local changes; None outside git."""
    if shutil.which("git") is None:
        return None
    try:
        run = lambda *args: subprocess.run(["git", "-C", str(path), *args], capture_output=True,  # noqa: E731
                                           text=True, timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except (subprocess.SubprocessError, OSError):
        return None
    return commit + ("+dirty" if dirty else "")


def matmul_peak_gflops(threads: int, sizes: tuple[int, ...] = (1024, 2048), repeats: int = 3) -> dict[str, float]:
    """NumPy float32 ``A @ B`` GFLOP/s on ``threads`` BLAS threads: best of ``repeats`` per size, and overall."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        return _matmul_rates(sizes, repeats)


def _matmul_rates(sizes: tuple[int, ...], repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    rates: dict[str, float] = {}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        a @ b  # warm the BLAS threads and caches
        best = min(_seconds(lambda a=a, b=b: a @ b) for _ in range(repeats))
        rates[f"n{n}"] = 2.0 * n**3 / best / 1e9
    rates["best"] = max(rates.values())
    return rates


def _seconds(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def machine_id() -> str:
    """A stable, readable key for the machine: host name, CPU and GPU."""
    gpu = "+".join(g["name"] for g in gpus()) or "no GPU"
    return f"{socket.gethostname()} ({cpu_model()}, {gpu})"


def collect(threads: int, measure_peak: bool = True) -> dict[str, Any]:
    """Everything that describes where and with what a run ran."""
    return {
        "machine": machine_id(),
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "memory_bytes": memory_bytes(),
        "gpus": gpus(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "frameworks": framework_versions(),
        "blas": blas_info(),
        "threads": threads,
        "rnnbench_version": __version__,
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "matmul_peak_gflops": matmul_peak_gflops(threads) if measure_peak else None,
    }
