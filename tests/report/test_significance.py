"""The process-level test on synthetic timings with known structure: a fake clock, seeded noise per process and
per call. What it must do: call an A/A difference significant at about the stated 5%, find a real 1.25x, and
never test one process a side."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from standins import FakeClock

from rnnbench.report.significance import (
    ONE_PROCESS,
    PAIRED,
    TOO_FEW,
    UNPAIRED,
    estimate_run_spread,
    minimum_detectable_ratio,
    process_test,
)
from rnnbench.worker.timing import TimingProtocol, run_protocol

PROTOCOL = TimingProtocol(warmup=2, steps=5)  # the quick profile's, calibrated blocks included


def process_median(level: float, call_sd: float, rng: np.random.Generator) -> float:
    """One worker process of a case whose calls take ``level`` seconds times lognormal call noise, timed by the
    run's own protocol on a fake clock; its median, the process's value."""
    clock = FakeClock()
    timings = run_protocol(lambda: clock.advance(level * math.exp(call_sd * rng.standard_normal())),
                           lambda: None, PROTOCOL, clock)
    return float(np.median(timings.samples))


def side(ratio: float, processes: int, process_sd: float, call_sd: float, rng: np.random.Generator,
         round_sd: float = 0.0, rounds: np.ndarray | None = None) -> dict[int, float]:
    """``processes`` fresh processes of a 2 ms case (times ``ratio``), each with its own level; ``rounds`` adds a
    level each round shares with the other side (a slow spell of the machine)."""
    shared = rounds if rounds is not None else np.zeros(processes)
    return {r: process_median(0.002 * ratio * math.exp(process_sd * rng.standard_normal() + round_sd * shared[r]),
                              call_sd, rng) for r in range(processes)}


def significant_share(trials: int, ratio: float, process_sd: float, paired: bool, seed: int,
                      processes: int = 5, round_sd: float = 0.0) -> float:
    rng, hits = np.random.default_rng(seed), 0
    for _ in range(trials):
        rounds = rng.standard_normal(processes)
        base = side(1.0, processes, process_sd, 0.03, rng, round_sd, rounds)
        new = side(ratio, processes, process_sd, 0.03, rng, round_sd, rounds)
        hits += process_test(base, new, paired=paired).outcome in ("faster", "slower")
    return hits / trials


@pytest.mark.parametrize("paired", [False, True])
def test_an_a_a_difference_is_significant_at_about_the_stated_rate(paired):
    # Processes spread 30% (torch at 2 threads on 2 cores measured 35%), calls 3%: 400 A/A comparisons.
    share = significant_share(400, 1.0, 0.30, paired, seed=1)
    assert 0.02 <= share <= 0.085  # 5% expected; the binomial's 99% range at n = 400 is about 2.4% to 8%


def test_pooling_the_calls_of_one_process_a_side_calls_most_a_a_differences_significant():
    """What the unit of the test is for: one process a side with its calls pooled, as the runs before processes
    were tested, finds a 'difference' between identical cases most of the time."""
    rng, hits = np.random.default_rng(2), 0
    for _ in range(200):
        calls = []
        for _ in range(2):
            level, clock = 0.002 * math.exp(0.30 * rng.standard_normal()), FakeClock()
            timings = run_protocol(lambda lv=level, c=clock: c.advance(lv * math.exp(0.03 * rng.standard_normal())),
                                   lambda: None, TimingProtocol(warmup=2, steps=10), clock)
            calls.append(np.log(timings.samples))
        hits += stats.ttest_ind(*calls, equal_var=False).pvalue < 0.05
    assert hits / 200 > 0.6


@pytest.mark.parametrize("paired", [False, True])
def test_a_real_quarter_is_found_in_five_processes_a_side(paired):
    # 1.25x, processes spread 5% (torch at 1 thread measured 5%): found nearly every time.
    assert significant_share(200, 1.25, 0.05, paired, seed=3) >= 0.95


def test_pairing_by_round_removes_what_a_round_shares():
    """A slow spell that hits both sides of a round (10% a round) hides a 1.1x difference from the unpaired test
    more than from the paired one."""
    paired = significant_share(200, 1.1, 0.02, True, seed=4, round_sd=0.10)
    unpaired = significant_share(200, 1.1, 0.02, False, seed=4, round_sd=0.10)
    assert paired >= 0.9 and unpaired < paired - 0.2


def test_the_minimum_detectable_ratio_is_found_at_about_80_percent():
    ratio = minimum_detectable_ratio(0.10, 5)
    assert 1.15 < ratio < 1.30
    assert 0.7 <= significant_share(300, ratio, 0.10, False, seed=5) <= 0.9
    assert minimum_detectable_ratio(0.10, 10) < ratio < minimum_detectable_ratio(0.20, 5)
    assert minimum_detectable_ratio(0.10, 1) == math.inf


def test_the_tests_are_the_t_tests_on_the_logs_and_agree_with_their_intervals():
    rng = np.random.default_rng(6)
    for _ in range(50):
        base = dict(enumerate(np.exp(rng.normal(0, 0.2, 5))))
        new = dict(enumerate(np.exp(rng.normal(rng.normal(0, 0.2), 0.2, 5))))
        logs = np.log(list(new.values())) - np.log(list(base.values()))
        paired, unpaired = process_test(base, new, paired=True), process_test(base, new)
        assert (paired.basis, unpaired.basis) == (PAIRED, UNPAIRED)
        assert paired.p_value == pytest.approx(stats.ttest_1samp(logs, 0.0).pvalue)
        welch = stats.ttest_ind(np.log(list(new.values())), np.log(list(base.values())), equal_var=False)
        assert unpaired.p_value == pytest.approx(welch.pvalue)
        assert paired.ratio == pytest.approx(math.exp(logs.mean()))
        for test in (paired, unpaired):
            assert (test.p_value < 0.05) == (not test.low <= 1.0 <= test.high)
            assert test.low <= test.ratio <= test.high


def test_one_process_or_too_few_give_no_test():
    one = process_test({0: 1.0}, {0: 3.0, 1: 3.1, 2: 2.9}, paired=True)
    assert (one.outcome, one.p_value, one.low, one.n_base) == (ONE_PROCESS, None, None, 1)
    assert one.ratio == pytest.approx(math.exp(np.mean(np.log([3.0, 3.1, 2.9]))))
    two = process_test({0: 1.0, 1: 1.1}, {0: 3.0, 1: 3.1})
    assert (two.outcome, two.tested) == (TOO_FEW, False)
    # Paired needs three shared rounds; with fewer the sides are tested unpaired.
    assert process_test({0: 1.0, 1: 1.1, 2: 1.0}, {1: 3.0, 2: 3.1, 3: 2.9}, paired=True).basis == UNPAIRED


def test_identical_sides_and_an_exact_difference():
    same = {0: 1.0, 1: 1.1, 2: 0.9}
    assert (process_test(same, same, paired=True).p_value, process_test(same, same, paired=True).ratio) == (1.0, 1.0)
    exact = process_test({r: 1.0 for r in range(3)}, {r: 2.0 for r in range(3)})  # a fake clock's constant steps
    assert (exact.outcome, exact.ratio, exact.low, exact.high) == ("slower", 2.0, 2.0, 2.0)


@pytest.mark.parametrize("bad", [{}, {0: 0.0}, {0: -1.0}, {0: math.nan}])
def test_a_side_needs_positive_step_times(bad):
    with pytest.raises(ValueError, match="step times > 0"):
        process_test(bad, {0: 1.0})


def test_two_runs_that_differ_as_wholes_need_the_run_spread_and_it_can_be_measured():
    """Each run has a level of its own (the machine's speed drifting over minutes, 3% here), shared by all of
    its processes: a test over the processes alone calls many A/A pairs of runs different; with the run spread
    added it is back at its rate, and A/A pairs measure that spread."""
    rng, spread = np.random.default_rng(7), 0.03
    alone = with_spread = 0
    ratios, errors = [], []
    for _ in range(300):
        base, new = (side(math.exp(spread * rng.standard_normal()), 5, 0.02, 0.02, rng) for _ in range(2))
        alone += process_test(base, new).outcome in ("faster", "slower")
        with_spread += process_test(base, new, run_spread=spread).outcome in ("faster", "slower")
        plain = process_test(base, new)
        ratios.append(math.log(plain.ratio))
        errors.append(plain.error)
    assert alone / 300 > 0.3 and 0.01 <= with_spread / 300 <= 0.09
    assert estimate_run_spread(ratios, errors) == pytest.approx(spread, rel=0.25)
    assert estimate_run_spread([0.0, 0.0], [0.01, 0.01]) == 0.0  # never below zero
