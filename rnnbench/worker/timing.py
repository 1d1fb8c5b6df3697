"""The timing protocol, the same for every backend: calibrated blocks of calls, synchronised at block ends.

The first call is timed on its own (it carries tracing, compilation and
autotuning). The remaining warm-up calls are timed one by one and discarded,
and the fastest of them calibrates the protocol: it picks
``calls_per_sample`` (k) so that one block of k calls lasts at least
``min_block_s`` (with one warm-up call, one more single call is timed for
it). Before blocks-v2 three extra calls after the warm-up calibrated; the
process is the statistical unit now (rnnbench.report.significance), and
those calls bought nothing a process's median needs. Each sample is one block: ``synchronize()``, k calls,
``synchronize()``, and its time divided by k, so a sample is always seconds
per call. A block of one sub-millisecond call would time the scheduler of a
busy machine (one moment off the CPU costs more than the call), and a sync
after every call would serialise host and device on a GPU; calls longer than
``min_block_s`` keep k = 1, one call per sample as before.

Wall clock (``perf_counter``), not CPU time. Throughput is total items over
total time (``Timings.rate``), never a mean of per-call rates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from rnnbench.errors import UsageError

Clock = Callable[[], float]

PROTOCOL = "blocks-v2"  # recorded with every timing: how a sample was taken (v1: three extra calibration calls)
MIN_BLOCK_S = 0.025  # the shortest block: enough calls of a fast step that a stall is averaged out
MAX_CALLS_PER_SAMPLE = 1000
CALIBRATION_CALLS = 3  # single calls that calibrate pytest-benchmark runs (rnnbench.testing.micro)


@dataclass(frozen=True)
class TimingProtocol:
    """How many calls to discard, how many samples to take, and how long a sample must last."""

    warmup: int = 3  # calls before timing, the first one timed separately as "first step"
    steps: int = 20  # timed samples, each a block of calls_per_sample calls
    min_block_s: float = MIN_BLOCK_S  # a sample lasts at least this long; 0: one call per sample

    def __post_init__(self) -> None:
        if self.warmup < 1:
            raise UsageError(f"warmup={self.warmup} is not valid. Accepted: >= 1 (the first call is always a warm-up)")
        if self.steps < 1:
            raise UsageError(f"steps={self.steps} is not valid. Accepted: >= 1")
        if not 0 <= self.min_block_s < math.inf:
            raise UsageError(f"min_block_s={self.min_block_s} is not valid. Accepted: a finite number >= 0")


@dataclass(frozen=True)
class Timings:
    """Raw timings of one protocol run, in seconds."""

    first_step: float  # the first call: compile and warm-up included
    samples: list[float]  # seconds per call, one per block
    calls_per_sample: int = 1  # k: the calls of each block
    min_block_s: float = 0.0  # what k was calibrated for
    warmup_calls: int = 0  # calls before the timed blocks, the first included

    @property
    def calls(self) -> int:
        """Timed calls in all."""
        return len(self.samples) * self.calls_per_sample

    @property
    def all_calls(self) -> int:
        """Every call the protocol made, warm-up included (a training step each, in a training pass)."""
        return self.warmup_calls + self.calls

    @property
    def total(self) -> float:
        """Seconds of all timed calls."""
        return sum(self.samples) * self.calls_per_sample

    def rate(self, items_per_step: float) -> float:
        """Items per second over all timed calls."""
        return items_per_step * self.calls / self.total

    def protocol(self) -> dict[str, object]:
        """What a record says about how these samples were taken."""
        return {"protocol": PROTOCOL, "calls_per_sample": self.calls_per_sample, "min_block_s": self.min_block_s}


def calls_per_sample(call_s: float, min_block_s: float) -> int:
    """Calls in a block so that it lasts at least ``min_block_s`` (one when a call is that slow already)."""
    if min_block_s <= 0 or call_s >= min_block_s:
        return 1
    return min(MAX_CALLS_PER_SAMPLE, math.ceil(min_block_s / max(call_s, 1e-9)))


def timed_block(call: Callable[[], object], sync: Callable[[], None], clock: Clock, calls: int = 1) -> float:
    """Seconds ``calls`` consecutive calls take, with the device drained before and after the block."""
    sync()
    start = clock()
    for _ in range(calls):
        call()
    sync()
    return clock() - start


def run_protocol(call: Callable[[], object], sync: Callable[[], None], protocol: TimingProtocol,
                 clock: Clock = time.perf_counter) -> Timings:
    """Warm up (the warm-up calls calibrate the calls per sample), then time ``protocol.steps`` blocks."""
    first = timed_block(call, sync, clock)
    k, warmup = 1, max(protocol.warmup - 1, 1) if protocol.min_block_s > 0 else protocol.warmup - 1
    if protocol.min_block_s > 0:
        fastest = min(timed_block(call, sync, clock) for _ in range(warmup))
        k = calls_per_sample(fastest, protocol.min_block_s)
    else:
        for _ in range(warmup):
            call()
    samples = [timed_block(call, sync, clock, k) / k for _ in range(protocol.steps)]
    return Timings(first, samples, k, protocol.min_block_s, warmup_calls=1 + warmup)


# ---- latency: every call timed on its own ---------------------------------------------------------

LATENCY_PROTOCOL = "calls-v1"  # recorded with every latency timing: each call alone, synchronised after it
MIN_LATENCY_CALLS = 20  # timed calls a measurement always takes, whatever its time budget


@dataclass(frozen=True)
class CallTimes:
    """Seconds of single calls: the first apart (load, compile), then each timed call."""

    first_call: float
    samples: list[float]
    warmup_calls: int  # calls after the first, before the timed ones, discarded
    budget_s: float  # the time budget the timed calls ran under
    protocol: str = LATENCY_PROTOCOL


def time_each_call(call: Callable[[], object], sync: Callable[[], None], calls: int, warmup: int, budget_s: float,
                   clock: Clock = time.perf_counter) -> CallTimes:
    """The first call, ``warmup`` discarded calls, then up to ``calls`` calls each timed from its start to its
    result being ready (a request's latency), stopping early once ``budget_s`` of timed calls is spent and
    ``MIN_LATENCY_CALLS`` are taken. Never blocks: a tail quantile needs every call's own time."""
    if calls < 1 or warmup < 0 or not budget_s > 0:
        raise UsageError(f"calls={calls}, warmup={warmup}, budget_s={budget_s} are not valid. Accepted: calls >= 1, "
                         "warmup >= 0, budget_s > 0")
    first = timed_block(call, sync, clock)
    for _ in range(warmup):
        call()
    sync()
    samples: list[float] = []
    while len(samples) < calls and (len(samples) < MIN_LATENCY_CALLS or sum(samples) < budget_s):
        start = clock()
        call()
        sync()
        samples.append(clock() - start)
    return CallTimes(first, samples, warmup, budget_s)
