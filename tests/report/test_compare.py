"""`rnnbench compare`: the Mann-Whitney U test, the ratio interval, per-repeat values, and verdicts on real runs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from paths import GOLDEN

from rnnbench.manager.case import Case
from rnnbench.report import compare
from rnnbench.report.compare import (
    MIN_SAMPLES,
    NOT_COMPARABLE,
    TOO_FEW,
    compare_repeats,
    compare_runs,
    compare_samples,
)
from rnnbench.report.significance import mann_whitney_u, ratio_interval
from rnnbench.results.frame import load_results

BASE, LOADED, ROUNDS, RUN, FAILED = (GOLDEN / n for n in ("compare-base", "compare-loaded", "compare-rounds",
                                                           "report-run", "report-failed"))
CASE = "{}/airline/{}/cpu/throughput/smoke-data-float32-default-t2-s0"  # the round (-r0) is not part of the key


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
    assert compare.verdict(p, low, high) == expected


def test_identical_samples_are_not_significant():
    samples = np.array([1.0, 1.1, 0.9, 1.2, 1.05, 0.95])
    result = compare_samples("case", "train", samples, samples.copy())
    assert (result.ratio, result.p_value, result.verdict) == (1.0, 1.0, "not significant")


def test_a_run_compared_with_itself_is_not_significant_anywhere():
    for run in (BASE, LOADED, ROUNDS):
        result = compare_runs(run, run)
        assert result.comparisons and {c.verdict for c in result.comparisons} == {"not significant"}
        assert all(c.ratio == 1.0 and c.p_value == 1.0 for c in result.comparisons)
    # The smoke profile times 3 calls a case: too few for any verdict, let alone a change.
    assert {c.verdict for c in compare_runs(RUN, RUN).comparisons} == {TOO_FEW}


def _verdicts(base: Path, new: Path) -> dict[tuple[str, str, str], str]:
    return {(c.case_id.split("/")[0], c.case_id.split("/")[2], c.kind): c.verdict
            for c in compare_runs(base, new).comparisons}


def test_real_runs_under_cpu_load_are_slower_where_the_load_hit():
    result = compare_runs(BASE, LOADED)
    found = {(c.case_id, c.kind): c for c in result.comparisons}
    assert len(found) == 8 and not (result.only_base or result.only_new or result.not_ok)
    # torch's training steps, starved of its two cores, were 20x and more slower: clearly significant.
    for cell in ("lstm", "rnn"):
        slow = found[(CASE.format("torch", cell), "train")]
        assert slow.verdict == "slower" and slow.ci_low > 2 and slow.p_value < 1e-5 and slow.basis == "calls"
    # numpy's single-threaded steps barely moved: only its LSTM inference, 2.8% slower with an interval of
    # 1.6% to 4.1%; torch's LSTM inference has p < 0.05 but an interval holding 1, so no verdict.
    slower = {("numpy", "lstm", "infer"), ("torch", "lstm", "train"), ("torch", "rnn", "train")}
    assert _verdicts(BASE, LOADED) == {(b, c, k): "slower" if (b, c, k) in slower else "not significant"
                                       for b in ("numpy", "torch") for c in ("lstm", "rnn") for k in ("infer", "train")}
    assert _verdicts(LOADED, BASE) == {key: "faster" if key in slower else "not significant" for key in slower |
                                       _verdicts(BASE, LOADED).keys()}
def test_cases_missing_or_failed_on_one_side_are_listed():
    result = compare_runs(RUN, FAILED)
    assert [c.case_id for c in result.comparisons] == [CASE.format("numpy", "gru")] * 2
    assert result.not_ok == (CASE.format("torch", "gru"),)
    assert len(result.only_base) == 4 and not result.only_new


def test_cli_fails_on_a_regression_beyond_the_threshold(cli):
    code, out, err = cli("compare", str(BASE), str(LOADED), "--fail-on-regression", "50")
    assert code == 1 and "slower" in out and "not significant" in out
    assert err.startswith("rnnbench: error: 2 significant slowdowns above 50%; worst " + CASE.format("torch", "lstm"))
    assert "too few samples" not in out
    code, _, err = cli("compare", str(BASE), str(LOADED), "--fail-on-regression", "1000000")
    assert (code, err) == (0, "")


def test_cli_self_compare_passes_and_prints_json(cli):
    code, out, _ = cli("compare", str(BASE), str(BASE), "--json", "--fail-on-regression", "0")
    document = json.loads(out)
    assert code == 0 and len(document["comparisons"]) == 8
    assert {c["verdict"] for c in document["comparisons"]} == {"not significant"}


def test_cli_rejects_runs_without_common_cases(cli, tmp_path):
    code, _, err = cli("compare", str(BASE), str(GOLDEN / "report-sweep"))
    assert code == 2 and "no throughput case was measured in both" in err


def test_a_case_key_is_the_case_without_its_round():
    case = Case(backend="torch", task="char_rnn", cell="lstm", device="cpu", mode="throughput", profile="default",
                hidden_size=64, seed=-2, repeat=10, task_options={"vocab": "a-r1"})
    assert case.case_id == "torch/char_rnn/lstm/cpu/throughput/default-data-float32-H64-t1-s-2-r10/vocab=a-r1"
    assert case.case_key == "torch/char_rnn/lstm/cpu/throughput/default-data-float32-H64-t1-s-2/vocab=a-r1"
    assert dataclasses.replace(case, repeat=0).case_key == case.case_key


def test_schema_2_records_get_their_case_key_by_migration():
    frame = load_results(BASE)  # schema-2 golden records
    assert (frame.case_key == frame.case_id.str.replace(r"-r\d+$", "", regex=True)).all()


def test_a_different_machine_or_workload_is_not_comparable(tmp_path):
    other = _copy_run(tmp_path / "other", BASE, machine="another box (Intel Xeon, no GPU)")
    result = compare_runs(BASE, other)
    assert result.comparisons and {c.verdict for c in result.comparisons} == {NOT_COMPARABLE}
    assert all(c.reason.startswith("machine differs: ") and "another box" in c.reason for c in result.comparisons)
    assert not result.regressions(0)
    resized = _copy_run(tmp_path / "resized", BASE, spec_hidden=999)
    reasons = [c.reason for c in compare_runs(BASE, resized).comparisons]
    assert reasons and all(reason.startswith("workload differs: ") for reason in reasons)


def _copy_run(target, source, machine=None, spec_hidden=None):
    target.mkdir()
    for name in ("run.json", "environment.json"):
        if (source / name).is_file():
            shutil.copy(source / name, target / name)
    lines = []
    for line in (source / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        if machine is not None:
            record["machine"] = machine
        if spec_hidden is not None and record.get("spec"):
            record["spec"]["hidden_size"] = spec_hidden
        lines.append(json.dumps(record))
    (target / "records.jsonl").write_text("\n".join(lines) + "\n")
    return target


def test_too_few_samples_gives_no_verdict():
    base, new = np.array([1.0, 1.1, 0.9, 1.05]), np.array([3.0, 3.1, 2.9, 3.2, 3.05])
    result = compare_samples("case", "train", base, new)
    assert (result.verdict, result.p_value, result.ci_low, result.ci_high) == (TOO_FEW, None, None, None)
    assert (result.n_base, result.n_new, result.base_median_s, result.new_median_s) == (4, 5, 1.025, 3.05)
    assert compare_samples("case", "train", np.append(base, 1.0), new).verdict == "slower"  # five a side: a verdict
    assert MIN_SAMPLES == 5


def test_repeats_are_tested_as_one_median_each():
    """Calls of a repeat cluster around its own level: pooled, 100 calls a side look significant; per repeat, the
    five levels of NEW interleave those of BASE and nothing is shown."""
    rng = np.random.default_rng(0)
    levels = [1.00, 1.10, 1.20, 1.30, 1.40]
    base = [level * (1 + 0.002 * rng.standard_normal(20)) for level in levels]
    new = [(level + 0.15) * (1 + 0.002 * rng.standard_normal(20)) for level in levels]
    per_repeat = compare_repeats("case", "train", base, new)
    assert (per_repeat.basis, per_repeat.n_base, per_repeat.n_new, per_repeat.verdict) == \
        ("repeats", 5, 5, "not significant")
    assert per_repeat.base_median_s == pytest.approx(np.median([np.median(r) for r in base]))
    pooled = compare_repeats("case", "train", [np.concatenate(base)], [np.concatenate(new)])
    assert (pooled.basis, pooled.n_base, pooled.verdict) == ("calls", 100, "slower") and pooled.p_value < 1e-6
    one_side = compare_repeats("case", "train", base, [np.concatenate(new)])  # repeats on one side only: calls
    assert (one_side.basis, one_side.n_base, one_side.n_new) == ("calls", 100, 100)


def _split_rounds(tmp_path: Path, run: Path, rounds: tuple[int, ...]) -> Path:
    """A copy of ``run`` keeping the records of ``rounds`` only."""
    copy = tmp_path / f"{run.name}-{'-'.join(map(str, rounds))}"
    shutil.copytree(run, copy)
    lines = [line for line in (run / "records.jsonl").read_text().splitlines()
             if json.loads(line)["config"]["repeat"] in rounds]
    (copy / "records.jsonl").write_text("\n".join(lines) + "\n")
    return copy


def test_rounds_of_a_real_run_are_its_repeats(tmp_path):
    records = [json.loads(line) for line in (ROUNDS / "records.jsonl").read_text().splitlines()]
    result = compare_runs(ROUNDS, ROUNDS)
    assert len(result.comparisons) == 4 and {(c.basis, c.n_base, c.n_new) for c in result.comparisons} == \
        {("repeats", 5, 5)}
    torch_train = next(c for c in result.comparisons if c.case_id == CASE.format("torch", "lstm") and c.kind == "train")
    medians = [np.median(r["throughput"]["train"]["samples_s"]) for r in records if r["backend"] == "torch"]
    assert len(medians) == 5 and torch_train.base_median_s == pytest.approx(np.median(medians))
    # Two rounds against two others: per-repeat values, too few of them for a verdict.
    early, late = _split_rounds(tmp_path, ROUNDS, (0, 1)), _split_rounds(tmp_path, ROUNDS, (3, 4))
    assert {(c.basis, c.n_base, c.verdict) for c in compare_runs(early, late).comparisons} == {("repeats", 2, TOO_FEW)}
    # One round of a case in BASE: the five rounds of NEW pool their 100 calls.
    assert {(c.basis, c.n_base, c.n_new) for c in compare_runs(BASE, ROUNDS).comparisons} == {("calls", 20, 100)}


def test_cli_never_fails_on_too_few_samples(cli, tmp_path):
    base, loaded = tmp_path / "base", tmp_path / "loaded"
    for run, pooled in ((BASE, base), (LOADED, loaded)):  # two copies of each run: two repeats of every case
        for copy in ("a", "b"):
            shutil.copytree(run, pooled / copy)
    code, out, err = cli("compare", str(base), str(loaded), "--fail-on-regression", "0")
    assert (code, err) == (0, "") and "8 comparisons have too few samples (under 5 values a side)" in out
