"""Was something else running on this process's cores? The time its threads waited for a CPU.

Linux counts, per thread, the time it was runnable but waiting on a run
queue (the second field of ``/proc/self/task/<tid>/schedstat``). On a quiet
machine a pinned worker waits a few percent of its wall time; with one busy
loop beside a 2-thread NumPy process on 2 cores it waited 46% and its
training step took 2.3x as long, and with a heavier neighbour (another
framework's threads) 40x: OpenBLAS's threads wait for each other, so one
preempted thread stalls them all. This is what the 38x NumPy outlier of
issue 26 was: another run on the same cores, not denormals. The share is
recorded with every timing and flagged by ``rnnbench.results.guards``.
"""

from __future__ import annotations

import os
from pathlib import Path

TASKS = Path(f"/proc/{os.getpid()}/task")


def runqueue_seconds() -> float | None:
    """Seconds this process's live threads have spent waiting for a CPU; None where Linux does not say."""
    total, found = 0, False
    try:
        threads = list(TASKS.iterdir())
    except OSError:
        return None
    for thread in threads:
        try:
            total += int((thread / "schedstat").read_text().split()[1])
            found = True
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile, or no schedstat
            continue
    return total / 1e9 if found else None


def waited_share(before: float | None, after: float | None, wall_s: float) -> float | None:
    """The threads' wait for a CPU as a share of the wall time between the readings (summed over threads)."""
    if before is None or after is None or wall_s <= 0:
        return None
    return max(after - before, 0.0) / wall_s
