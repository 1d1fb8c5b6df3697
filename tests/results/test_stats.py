"""Statistics and the timing protocol, exact with a fake clock."""

from __future__ import annotations

import numpy as np
import pytest
from standins import FakeClock

from rnnbench.errors import UsageError
from rnnbench.results.stats import latency_summary, summarize
from rnnbench.worker.timing import MIN_LATENCY_CALLS, TimingProtocol, run_protocol, time_each_call


def test_summary_of_known_samples():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.n, s.median, s.q1, s.q3, s.min, s.max) == (5, 3.0, 2.0, 4.0, 1.0, 100.0)
    assert s.mean == 22.0 and s.iqr == 2.0
    assert s.relative_spread == pytest.approx(2 / 3) and s.unstable
    assert s.ci_low <= s.median <= s.ci_high


def test_interval_narrows_with_more_samples_and_is_reproducible():
    rng = np.random.default_rng(1)
    few, many = rng.normal(10, 1, 10), rng.normal(10, 1, 1000)
    a, b = summarize(few), summarize(many)
    assert (b.ci_high - b.ci_low) < (a.ci_high - a.ci_low)
    assert summarize(few) == a


def test_steady_samples_are_stable():
    s = summarize([1.00, 1.01, 0.99, 1.02, 1.0])
    assert not s.unstable and s.ci_low >= 0.99 and s.ci_high <= 1.02


def test_single_sample_and_bad_samples():
    one = summarize([2.5])
    assert (one.median, one.ci_low, one.ci_high, one.stdev) == (2.5, 2.5, 2.5, 0.0)
    with pytest.raises(ValueError, match="need >= 1 finite sample"):
        summarize([])
    with pytest.raises(ValueError):
        summarize([1.0, float("nan")])


def test_protocol_times_first_call_apart_and_brackets_every_sample_with_sync():
    clock, events = FakeClock(), []
    durations = iter([5.0, 9.0, 9.0, 1.0, 2.0, 3.0])  # compile, 2 discarded warm-ups, 3 timed

    def step():
        events.append("step")
        clock.advance(next(durations))

    def sync():
        events.append("sync")
        clock.advance(0.0)

    timings = run_protocol(step, sync, TimingProtocol(warmup=3, steps=3, min_block_s=0), clock)  # 1 call a sample
    assert timings.first_step == 5.0
    assert timings.samples == [1.0, 2.0, 3.0]
    assert timings.rate(items_per_step=64) == pytest.approx(64 * 3 / 6.0)
    assert events == ["sync", "step", "sync", "step", "step"] + ["sync", "step", "sync"] * 3


def test_sync_time_counts_inside_the_sample():
    # A GPU step returns at once; the time is spent in synchronize(), and must be counted.
    clock = FakeClock()
    timings = run_protocol(lambda: None, lambda: clock.advance(0.5), TimingProtocol(warmup=1, steps=2), clock)
    assert timings.samples == [0.5, 0.5] and timings.calls_per_sample == 1  # a 0.5 s call needs no block


def test_fast_calls_are_timed_in_calibrated_blocks_synced_at_block_ends_only():
    clock, events = FakeClock(), []

    def step():
        events.append("step")
        clock.advance(0.002)  # 2 ms: a block of 13 lasts at least 25 ms

    def sync():
        events.append("sync")

    timings = run_protocol(step, sync, TimingProtocol(warmup=2, steps=4), clock)
    assert events[:6] == ["sync", "step", "sync"] * 2  # the first call, then the warm-up call that calibrates
    assert timings.calls_per_sample == 13 and timings.calls == 52
    assert timings.samples == pytest.approx([0.002] * 4)
    assert timings.rate(items_per_step=10) == pytest.approx(10 / 0.002)
    assert timings.protocol() == {"protocol": "blocks-v2", "calls_per_sample": 13, "min_block_s": 0.025}
    assert events[6:] == (["sync"] + ["step"] * 13 + ["sync"]) * 4  # the four blocks, nothing else


@pytest.mark.parametrize("fields", [{"warmup": 0}, {"steps": 0}])
def test_protocol_rejects_no_warmup_or_no_steps(fields):
    with pytest.raises(UsageError, match="is not valid"):
        TimingProtocol(**fields)


def test_latency_quantiles_of_known_calls():
    calls = [float(n) for n in range(1, 101)]  # 1 .. 100 seconds
    summary = latency_summary(calls)
    assert summary == {"p50_s": 50.5, "p90_s": pytest.approx(90.1), "p99_s": pytest.approx(99.01), "max_s": 100.0,
                       "mean_s": 50.5, "calls": 100}
    with pytest.raises(ValueError, match="need >= 1 finite one"):
        latency_summary([1.0, float("inf")])


def test_latency_times_each_call_alone_the_first_apart_and_synced_after_each():
    clock, events = FakeClock(), []
    durations = iter([7.0, 9.0, 9.0] + [0.1 * n for n in range(1, 31)])  # compile, 2 discarded, then timed

    def call():
        events.append("call")
        clock.advance(next(durations))

    times = time_each_call(call, lambda: events.append("sync"), calls=30, warmup=2, budget_s=100.0, clock=clock)
    assert times.first_call == 7.0 and times.warmup_calls == 2
    assert times.samples == pytest.approx([0.1 * n for n in range(1, 31)])  # every call its own sample: no blocks
    assert events == ["sync", "call", "sync", "call", "call", "sync"] + ["call", "sync"] * 30


def test_latency_stops_at_its_budget_but_never_below_the_minimum_count():
    clock = FakeClock()
    slow = time_each_call(lambda: clock.advance(1.0), lambda: None, calls=500, warmup=0, budget_s=3.0, clock=clock)
    assert len(slow.samples) == MIN_LATENCY_CALLS  # 20 s spent, past the budget, but the minimum is kept
    fast = time_each_call(lambda: clock.advance(0.01), lambda: None, calls=500, warmup=0, budget_s=3.0, clock=clock)
    assert 300 <= len(fast.samples) <= 301  # the budget, 3 s of 10 ms calls, ends it before 500
    with pytest.raises(UsageError, match="calls >= 1"):
        time_each_call(lambda: None, lambda: None, calls=0, warmup=0, budget_s=1.0)
