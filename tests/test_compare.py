"""`rnnbench compare`: the Mann-Whitney U test, the ratio interval, and verdicts on two real runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnbench.cli import main
from rnnbench.report.compare import compare_runs, compare_samples, verdict
from rnnbench.report.significance import mann_whitney_u, ratio_interval

GOLDEN = Path(__file__).parent / "golden"
BASE, LOADED, RUN, FAILED = (GOLDEN / n for n in ("compare-base", "compare-loaded", "report-run", "report-failed"))
CASE = "{}/airline/{}/cpu/throughput/smoke-data-float32-default-t2-s0-r0"


# Known values: the first is the worked example of scipy.stats.mannwhitneyu's documentation (exact: U = 17,
# p = 2 * 7/126); every one agrees with scipy 1.17 mannwhitneyu (two-sided, method "auto") to 1e-12.
@pytest.mark.parametrize(("x", "y", "u", "p", "method"), [
    ([19, 22, 16, 29, 24], [20, 11, 17, 12], 17.0, 0.1111111111111111, "exact"),
    ([1, 2, 3], [4, 5, 6], 0.0, 0.1, "exact"),
    ([1.5, 2.5, 3.5, 9], [4, 5, 6, 7, 8], 5.0, 0.2857142857142857, "exact"),
    ([1, 2, 2, 3], [2, 3, 4, 4, 5], 2.5, 0.07854585095119067, "normal"),  # ties: normal approximation
    (list(range(1, 12)), [x + 0.5 for x in range(6, 20)], 15.0, 0.0007604285554638057, "normal"),
    ([3, 3, 3], [3, 3, 3], 4.5, 1.0, "normal"),
])
def test_mann_whitney_u_matches_known_values(x, y, u, p, method):
    result = mann_whitney_u(np.array(x, float), np.array(y, float))
    assert (result.u, result.method) == (u, method)
    assert result.p_value == pytest.approx(p, rel=1e-12)


def test_mann_whitney_u_is_symmetric_and_needs_values():
    x, y = np.array([0.3, 0.1, 0.7, 0.2]), np.array([0.5, 0.9, 0.8, 0.6, 0.4, 1.1, 1.3, 1.2, 1.4, 1.5])
    forward, backward = mann_whitney_u(x, y), mann_whitney_u(y, x)
    assert forward.p_value == pytest.approx(backward.p_value) and forward.u + backward.u == x.size * y.size
    with pytest.raises(ValueError, match="needs values in both samples"):
        mann_whitney_u(x, np.array([]))


def test_ratio_interval_is_seeded_and_brackets_the_ratio():
    rng = np.random.default_rng(3)
    base, new = rng.lognormal(0, 0.1, 40), 2 * rng.lognormal(0, 0.1, 40)
    low, high = ratio_interval(base, new)
    assert (low, high) == ratio_interval(base, new)  # fixed seed
    assert low < np.median(new) / np.median(base) < high and 1.5 < low and high < 2.7


@pytest.mark.parametrize(("p", "low", "high", "expected"), [
    (0.01, 1.1, 1.3, "slower"), (0.01, 0.7, 0.9, "faster"), (0.2, 1.1, 1.3, "not significant"),
    (0.01, 0.9, 1.2, "not significant"),  # significant rank test, but the interval holds 1
])
def test_verdict_needs_both_the_test_and_the_interval(p, low, high, expected):
    assert verdict(p, low, high) == expected


def test_identical_samples_are_not_significant():
    samples = np.array([1.0, 1.1, 0.9, 1.2, 1.05, 0.95])
    result = compare_samples("case", "train", samples, samples.copy())
    assert (result.ratio, result.p_value, result.verdict) == (1.0, 1.0, "not significant")


def test_a_run_compared_with_itself_is_not_significant_anywhere():
    for run in (BASE, LOADED, RUN):
        result = compare_runs(run, run)
        assert result.comparisons and {c.verdict for c in result.comparisons} == {"not significant"}
        assert all(c.ratio == 1.0 and c.p_value == 1.0 for c in result.comparisons)


def test_real_runs_under_cpu_load_are_slower_where_the_load_hit():
    result = compare_runs(BASE, LOADED)
    found = {(c.case_id, c.kind): c for c in result.comparisons}
    assert len(found) == 8 and not (result.only_base or result.only_new or result.not_ok)
    # torch's training steps, starved of its two cores, were 20x and more slower: clearly significant.
    for cell in ("lstm", "rnn"):
        slow = found[(CASE.format("torch", cell), "train")]
        assert slow.verdict == "slower" and slow.ci_low > 2 and slow.p_value < 1e-5
    # numpy's single-threaded training step barely moved: no verdict either way.
    assert found[(CASE.format("numpy", "lstm"), "train")].verdict == "not significant"
    backwards = {(c.case_id, c.kind): c.verdict for c in compare_runs(LOADED, BASE).comparisons}
    assert backwards[(CASE.format("torch", "rnn"), "train")] == "faster"
    assert {v for k, v in backwards.items()} - {"faster", "slower", "not significant"} == set()


def test_cases_missing_or_failed_on_one_side_are_listed():
    result = compare_runs(RUN, FAILED)
    assert [c.case_id for c in result.comparisons] == [CASE.format("numpy", "gru")] * 2
    assert result.not_ok == (CASE.format("torch", "gru"),)
    assert len(result.only_base) == 4 and not result.only_new


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_fails_on_a_regression_beyond_the_threshold(capsys):
    code, out, err = _cli(capsys, "compare", str(BASE), str(LOADED), "--fail-on-regression", "50")
    assert code == 1 and "slower" in out and "not significant" in out
    assert err.startswith("rnnbench: error: 2 significant slowdowns above 50%; worst " + CASE.format("torch", "lstm"))
    code, _, err = _cli(capsys, "compare", str(BASE), str(LOADED), "--fail-on-regression", "1000000")
    assert (code, err) == (0, "")


def test_cli_self_compare_passes_and_prints_json(capsys):
    code, out, _ = _cli(capsys, "compare", str(BASE), str(BASE), "--json", "--fail-on-regression", "0")
    document = json.loads(out)
    assert code == 0 and len(document["comparisons"]) == 8
    assert {c["verdict"] for c in document["comparisons"]} == {"not significant"}


def test_cli_rejects_runs_without_common_cases(capsys, tmp_path):
    code, _, err = _cli(capsys, "compare", str(BASE), str(GOLDEN / "report-sweep"))
    assert code == 2 and "no throughput case was measured in both" in err
