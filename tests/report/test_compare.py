"""`rnnbench compare` on real runs: one value per process, untested sides, fingerprints across schema versions."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from paths import GOLDEN

from rnnbench.case import Case
from rnnbench.report.compare import NOT_COMPARABLE, ONE_PROCESS, TOO_FEW, compare_runs
from rnnbench.results.frame import load_results

BASE, LOADED, ROUNDS, RUN, FAILED = (GOLDEN / n for n in ("compare-base", "compare-loaded", "compare-rounds",
                                                           "report-run", "report-failed"))
CASE = "{}/airline/{}/cpu/throughput/smoke-data-float32-default-t2-s0"  # the round (-r0) is not part of the key


def _copy_run(target: Path, source: Path, change: Callable[[dict[str, Any]], None] = lambda r: None,
              rounds: tuple[int, ...] | None = None) -> Path:
    """A copy of the run ``source`` with ``change`` applied to each record, keeping ``rounds`` only if given."""
    shutil.copytree(source, target)
    lines = []
    for line in (source / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        if rounds is None or record["config"]["repeat"] in rounds:
            change(record)
            lines.append(json.dumps(record))
    (target / "records.jsonl").write_text("\n".join(lines) + "\n")
    return target


def _slow_numpy_training(record: dict[str, Any]) -> None:
    """NumPy's training steps 3x as long, every sample and its summary (its processes agree within 30%; torch's,
    measured under load, spread 7x, and no five processes a side would tell 3x apart there)."""
    if record["backend"] == "numpy":
        train = record["throughput"]["train"]
        train["samples_s"] = [3 * s for s in train["samples_s"]]
        train["summary"] = {key: 3 * value if key in ("median", "q1", "q3", "min", "max", "mean", "ci_low",
                                                       "ci_high", "iqr") else value
                            for key, value in train["summary"].items()}


def test_a_run_compared_with_itself_pairs_its_rounds_and_finds_nothing():
    result = compare_runs(ROUNDS, ROUNDS)
    assert len(result.comparisons) == 4
    assert {(c.basis, c.n_base, c.n_new, c.outcome, c.ratio, c.p_value) for c in result.comparisons} == \
        {("paired rounds", 5, 5, "not significant", 1.0, 1.0)}
    records = [json.loads(line) for line in (ROUNDS / "records.jsonl").read_text().splitlines()]
    torch = next(c for c in result.comparisons if c.case_id == CASE.format("torch", "lstm") and c.kind == "train")
    medians = [np.median(r["throughput"]["train"]["samples_s"]) for r in records if r["backend"] == "torch"]
    assert torch.base_median_s == pytest.approx(np.median(medians))  # the median of the processes' medians


def test_one_process_a_side_is_never_tested():
    """The loaded run's torch steps were 20x slower, yet one process a side carries no test."""
    for base, new in ((BASE, LOADED), (BASE, BASE), (BASE, ROUNDS)):
        result = compare_runs(base, new)
        assert result.comparisons and {c.outcome for c in result.comparisons} == {ONE_PROCESS}
        assert all(c.p_value is None and c.ci_low is None for c in result.comparisons)
        assert not result.regressions(0)
    slow = next(c for c in compare_runs(BASE, LOADED).comparisons
                if c.case_id == CASE.format("torch", "lstm") and c.kind == "train")
    assert slow.ratio > 10  # the ratio is still shown


def _another_run(record: dict[str, Any]) -> None:
    record["run_id"] = "another-run"
    _slow_numpy_training(record)


def test_a_real_slowdown_across_runs_is_found_and_nothing_else(tmp_path):
    slowed = _copy_run(tmp_path / "slowed", ROUNDS, _another_run)
    found = {(c.case_id.split("/")[0], c.kind): c for c in compare_runs(ROUNDS, slowed).comparisons}
    assert {key: (c.basis, c.n_base, c.n_new) for key, c in found.items()} == {
        key: ("processes", 5, 5) for key in found}  # two runs never pair their rounds
    slow = found[("numpy", "train")]
    assert slow.outcome == "slower" and slow.ratio == pytest.approx(3.0) and 1 < slow.ci_low < 3 < slow.ci_high
    assert {key: c.outcome for key, c in found.items() if key != ("numpy", "train")} == {
        ("torch", "train"): "not significant", ("numpy", "infer"): "not significant",
        ("torch", "infer"): "not significant"}
    backwards = {(c.case_id.split("/")[0], c.kind): c.outcome for c in compare_runs(slowed, ROUNDS).comparisons}
    assert backwards[("numpy", "train")] == "faster"


def test_two_processes_a_side_are_too_few(tmp_path):
    early, late = _copy_run(tmp_path / "a", ROUNDS, rounds=(0, 1)), _copy_run(tmp_path / "b", ROUNDS, rounds=(3, 4))
    assert {(c.n_base, c.outcome) for c in compare_runs(early, late).comparisons} == {(2, TOO_FEW)}


def test_cli_fails_on_a_significant_regression_beyond_the_threshold(cli, tmp_path):
    slowed = _copy_run(tmp_path / "slowed", ROUNDS, _another_run)
    code, out, err = cli("compare", str(ROUNDS), str(slowed), "--fail-on-regression", "50")
    assert code == 1 and "slower" in out and "not significant" in out
    assert err.startswith("rnnbench: error: 1 significant slowdowns above 50%; worst " + CASE.format("numpy", "lstm"))
    code, _, err = cli("compare", str(ROUNDS), str(slowed), "--fail-on-regression", "1000000")
    assert (code, err) == (0, "")
    for not_a_threshold in ("nan", "inf", "-1"):  # a gate that could never trip is refused, not passed
        code, _, err = cli("compare", str(ROUNDS), str(slowed), "--fail-on-regression", not_a_threshold)
        assert code == 2 and "--fail-on-regression" in err, err
    code, _, err = cli("compare", str(ROUNDS), str(slowed), "--run-spread", "nan")
    assert code == 2 and "'nan' is not a finite number" in err, err


def test_cli_never_fails_on_an_untested_case(cli):
    code, out, err = cli("compare", str(BASE), str(LOADED), "--fail-on-regression", "0")
    assert (code, err) == (0, "") and "8 comparisons are not tested (under 3 processes a side" in out


def test_cli_self_compare_passes_and_prints_json(cli):
    code, out, _ = cli("compare", str(ROUNDS), str(ROUNDS), "--json", "--fail-on-regression", "0")
    document = json.loads(out)
    assert code == 0 and len(document["comparisons"]) == 4
    assert {c["outcome"] for c in document["comparisons"]} == {"not significant"}


def test_cli_rejects_runs_without_common_cases(cli):
    code, _, err = cli("compare", str(BASE), str(GOLDEN / "report-sweep"))
    assert code == 2 and "no throughput or latency case was measured in both" in err


def test_cases_missing_or_failed_on_one_side_are_listed():
    result = compare_runs(RUN, FAILED)
    assert [c.case_id for c in result.comparisons] == [CASE.format("numpy", "gru")] * 2
    assert result.not_ok == (CASE.format("torch", "gru"),)
    assert len(result.only_base) == 4 and not result.only_new


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
    def elsewhere(record: dict[str, Any]) -> None:
        record["machine"] = "another box (Intel Xeon, no GPU)"

    def resized(record: dict[str, Any]) -> None:
        record["spec"]["hidden_size"] = 999

    result = compare_runs(ROUNDS, _copy_run(tmp_path / "other", ROUNDS, elsewhere))
    assert result.comparisons and {c.outcome for c in result.comparisons} == {NOT_COMPARABLE}
    assert all(c.reason.startswith("machine differs: ") and "another box" in c.reason for c in result.comparisons)
    assert not result.regressions(0)
    reasons = [c.reason for c in compare_runs(ROUNDS, _copy_run(tmp_path / "resized", ROUNDS, resized)).comparisons]
    assert reasons and all(reason.startswith("workload differs: ") for reason in reasons)


def test_a_field_added_at_its_default_and_a_new_protocol_still_compare(tmp_path):
    """A newer commit's records: the spec gained fields at their defaults, the timing protocol and a framework
    version changed, the schema is the current one. The workload is the same, so every case gets a verdict,
    and the differences in how it was measured are named beside it."""
    def newer(record: dict[str, Any]) -> None:
        record["spec"] |= {"tf32": False, "autocast": None}
        record["optimizer"]["clip_norm"] = record["optimizer"].get("clip_norm")
        for block in record["throughput"].values():
            block["protocol"] = "blocks-v2"
        record["versions"] = {**record["versions"], "numpy": "9.9.9"}

    result = compare_runs(ROUNDS, _copy_run(tmp_path / "newer", ROUNDS, newer))
    assert len(result.comparisons) == 4 and {c.outcome for c in result.comparisons} == {"not significant"}
    assert all("protocol differs: calls-v0 vs blocks-v2" in c.differences and "versions differs" in c.differences
               for c in result.comparisons)

    def retuned(record: dict[str, Any]) -> None:
        record["spec"]["tf32"] = True  # not the default: another function, another workload

    assert {c.outcome for c in compare_runs(ROUNDS, _copy_run(tmp_path / "tf32", ROUNDS, retuned)).comparisons} == \
        {NOT_COMPARABLE}


LATENCY = GOLDEN / "report-latency"


def _slow_openvino_steps(record: dict[str, Any]) -> None:
    """OpenVINO's streamed steps 3x as long, in a run of another id (its whole-sequence p99s, of 30 calls in
    the smoke profile, spread 30x over its processes: no three a side would tell 3x apart there)."""
    record["run_id"] = "another-run"
    if record["backend"] == "openvino":
        steps = record["latency"]["streaming"]
        steps.update({key: 3 * value for key, value in steps.items() if key.endswith("_s") and key != "budget_s"
                      and not isinstance(value, list)})
        steps["samples_s"] = [3 * s for s in steps["samples_s"]]


def test_latency_runs_are_compared_on_each_process_p99_and_streaming_p50(tmp_path):
    itself = compare_runs(LATENCY, LATENCY)
    assert {(c.kind, c.basis, c.n_base, c.outcome, c.ratio) for c in itself.comparisons} == {
        (kind, "paired rounds", 3, "not significant", 1.0) for kind in ("whole p99", "stream p50")}
    slowed = compare_runs(LATENCY, _copy_run(tmp_path / "slowed", LATENCY, _slow_openvino_steps))
    found = {(c.case_id.split("/")[0], c.case_id.split("/")[2], c.kind): c for c in slowed.comparisons}
    assert len(found) == 12 and {c.basis for c in found.values()} == {"processes"}  # 3 backends x 2 cells x 2
    slower = {key: c.ratio for key, c in found.items() if c.outcome == "slower"}
    assert slower == {("openvino", cell, "stream p50"): pytest.approx(3.0) for cell in ("gru", "lstm")}
    assert {c.outcome for key, c in found.items() if key not in slower} == {"not significant"}
    assert list(slowed.spreads) == ["latency"]
