"""The timing protocol, the same for every backend.

The first call is timed on its own (it carries tracing, compilation and
autotuning), the remaining warm-up calls are discarded, then every timed
call is bracketed by ``synchronize()`` and recorded as one sample. Wall
clock (``perf_counter``), not CPU time; throughput is total items over
total time, never a mean of per-step rates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rnnbench.errors import UsageError

Clock = Callable[[], float]


@dataclass(frozen=True)
class TimingProtocol:
    """How many calls to discard and to time."""

    warmup: int = 3  # calls before timing, the first one timed separately as "first step"
    steps: int = 20  # timed calls, one sample each

    def __post_init__(self) -> None:
        if self.warmup < 1:
            raise UsageError(f"warmup={self.warmup} is not valid. Accepted: >= 1 (the first call is always a warm-up)")
        if self.steps < 1:
            raise UsageError(f"steps={self.steps} is not valid. Accepted: >= 1")


@dataclass(frozen=True)
class Timings:
    """Raw timings of one protocol run, in seconds."""

    first_step: float  # the first call: compile and warm-up included
    samples: list[float]  # one per timed call

    @property
    def total(self) -> float:
        return sum(self.samples)

    def rate(self, items_per_step: float) -> float:
        """Items per second over all timed calls."""
        return items_per_step * len(self.samples) / self.total


def timed_call(call: Callable[[], object], sync: Callable[[], None], clock: Clock) -> float:
    """Seconds one ``call`` takes, with the device drained before and after."""
    sync()
    start = clock()
    call()
    sync()
    return clock() - start


def run_protocol(call: Callable[[], object], sync: Callable[[], None], protocol: TimingProtocol,
                 clock: Clock = time.perf_counter) -> Timings:
    """Warm up, then time ``protocol.steps`` calls one by one."""
    first = timed_call(call, sync, clock)
    for _ in range(protocol.warmup - 1):
        call()
    samples = [timed_call(call, sync, clock) for _ in range(protocol.steps)]
    return Timings(first, samples)
