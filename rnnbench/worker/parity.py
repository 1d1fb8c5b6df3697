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
from rnnbench.host import thread_environment, usable_cpus


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
