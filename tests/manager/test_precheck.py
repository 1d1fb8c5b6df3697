"""The conformance check that opens a run: one fresh process per backend and device, its result in every record."""

from __future__ import annotations

import json

import pytest

from rnnbench.manager.options import RunOptions
from rnnbench.manager.precheck import CHECK_FILE, check_pairs, read_check_results, result_from_reports
from rnnbench.manager.runner import run
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import read_records


def comparison(case: str, quantity: str, max_rel: float, ok: bool) -> dict:
    return {"case": case, "quantity": quantity, "max_rel": max_rel, "ok": ok}


def test_the_result_counts_failures_and_names_the_worst_comparison() -> None:
    reports = [{"comparisons": [comparison("lstm-lm-L1-float32", "grad", 2e-5, True),
                                comparison("gru-lm-L1-float32", "adam step", 3e-3, False),
                                comparison("rnn-lm-L1-float32", "loss", float("nan"), False)]}]
    result = result_from_reports(reports, "float32", "cpu")
    assert (result.ok, result.comparisons, result.failures) == (False, 3, 2)
    # NaN compares as the worst of all, and stays out of the record (records are strict JSON)
    assert result.worst_rel is None and result.worst == "rnn-lm-L1-float32 loss (not finite)"
    assert result.label.startswith("FAIL: 2 of 3 outside tolerance")
    skipped = result_from_reports([{"comparisons": [], "skipped": ["float64: x supports only float32"]}],
                                   "float64", "cpu")
    assert skipped.ok is None and "supports only float32" in skipped.label
    raised = "Plugin 'x' (x 1.0) failed in build: RuntimeError: boom"
    for compared in ([], [comparison("lstm-lm-L1-float32", "output", 1e-7, True)]):  # before or after a case
        result = result_from_reports([{"comparisons": compared, "error": raised}], "float32", "cpu")
        assert result.ok is False and result.label == f"FAIL: {raised}"


@pytest.mark.slow
def test_a_run_checks_each_backend_once_and_every_record_carries_its_result(install_fake_plugin, tmp_path):
    install_fake_plugin("off", "off_by_a_bit")
    install_fake_plugin("misbehaving", "misbehaving", distribution="fake-faults")
    options = RunOptions(backends=("numpy", "off_by_a_bit", "aborts"), tasks=("airline",), cells=("rnn", "gru"),
                         modes=("throughput",), profile="smoke", threads=1, timeout_s=60.0,
                         dtype="float64")  # off_by_a_bit is off by 1e-5: outside the float64 tolerance only
    report = run(options, tmp_path, registry=Registry(make_plugin_manager()), quiet=True)
    results = json.loads((report.run_dir / CHECK_FILE).read_text())
    # once per backend, device and the implementation the cases run, not per case
    assert sorted(results) == ["aborts/cpu/reference", "numpy/cpu/reference", "off_by_a_bit/cpu/reference"]
    numpy, off, aborts = (results[f"{name}/cpu/reference"] for name in ("numpy", "off_by_a_bit", "aborts"))
    assert numpy["ok"] is True
    assert off["ok"] is False and off["failures"] > 0
    assert aborts["ok"] is None and "killed by SIGABRT" in aborts["error"]
    records = list(read_records(report.run_dir))
    assert len(records) == 6
    assert all(r["conformance"] == results[f"{r['backend']}/cpu/reference"] for r in records)
    assert {r["backend"]: r["status"] for r in records if r["backend"] != "aborts"} == {
        "numpy": "ok", "off_by_a_bit": "ok"}  # a failing check flags the numbers; it does not stop them


@pytest.mark.slow
def test_a_hanging_check_is_stopped_at_the_timeout_and_saved_as_unchecked(install_fake_plugin, tmp_path):
    install_fake_plugin("misbehaving", "misbehaving")
    announced = []
    results = check_pairs(tmp_path, {("hangs", "cpu", None): None}, "float32", threads=1, timeout_s=5.0,
                          memory_limit_mb=None, announce=lambda target, result: announced.append(target))
    assert announced == ["hangs/cpu"] and read_check_results(tmp_path) == results
    result = results["hangs/cpu"]
    assert result.ok is None and result.error == "the check did not finish within 5 s"
