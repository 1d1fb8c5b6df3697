"""The conformance check that opens a run: one fresh process per backend and device, its verdict in every record."""

from __future__ import annotations

import json

import pytest

from rnnbench.manager.options import RunOptions
from rnnbench.manager.precheck import CHECK_FILE, check_in_subprocess, verdict_from_reports
from rnnbench.manager.runner import run
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import read_records


def comparison(case: str, quantity: str, max_rel: float, ok: bool) -> dict:
    return {"case": case, "quantity": quantity, "max_rel": max_rel, "ok": ok}


def test_the_verdict_counts_failures_and_names_the_worst_comparison() -> None:
    reports = [{"comparisons": [comparison("lstm-lm-L1-float32", "grad", 2e-5, True),
                                comparison("gru-lm-L1-float32", "adam step", 3e-3, False),
                                comparison("rnn-lm-L1-float32", "loss", float("nan"), False)]}]
    verdict = verdict_from_reports(reports, "float32", "cpu")
    assert (verdict.ok, verdict.comparisons, verdict.failures) == (False, 3, 2)
    # NaN compares as the worst of all, and stays out of the record (records are strict JSON)
    assert verdict.worst_rel is None and verdict.worst == "rnn-lm-L1-float32 loss (not finite)"
    assert verdict.label.startswith("FAIL: 2 of 3 outside tolerance")
    skipped = verdict_from_reports([{"comparisons": [], "skipped": ["float64: x supports only float32"]}],
                                   "float64", "cpu")
    assert skipped.ok is None and "supports only float32" in skipped.label
    raised = "Plugin 'x' (x 1.0) failed in build: RuntimeError: boom"
    for compared in ([], [comparison("lstm-lm-L1-float32", "output", 1e-7, True)]):  # before or after a case
        verdict = verdict_from_reports([{"comparisons": compared, "error": raised}], "float32", "cpu")
        assert verdict.ok is False and verdict.label == f"FAIL: {raised}"


@pytest.mark.slow
def test_a_run_checks_each_backend_once_and_every_record_carries_its_verdict(install_fake_plugin, tmp_path):
    install_fake_plugin("off", "off_by_a_bit")
    install_fake_plugin("misbehaving", "misbehaving", distribution="fake-faults")
    options = RunOptions(backends=("numpy", "off_by_a_bit", "aborts"), tasks=("airline",), cells=("rnn", "gru"),
                         modes=("throughput",), profile="smoke", threads=1, timeout_s=60.0,
                         dtype="float64")  # off_by_a_bit is off by 1e-5: outside the float64 tolerance only
    report = run(options, tmp_path, registry=Registry(make_plugin_manager()), quiet=True)
    verdicts = json.loads((report.run_dir / CHECK_FILE).read_text())
    # once per backend, device and the implementation the cases run, not per case
    assert sorted(verdicts) == ["aborts/cpu/reference", "numpy/cpu/reference", "off_by_a_bit/cpu/reference"]
    numpy, off, aborts = (verdicts[f"{name}/cpu/reference"] for name in ("numpy", "off_by_a_bit", "aborts"))
    assert numpy["ok"] is True
    assert off["ok"] is False and off["failures"] > 0
    assert aborts["ok"] is None and "killed by SIGABRT" in aborts["error"]
    records = list(read_records(report.run_dir))
    assert len(records) == 6
    assert all(r["conformance"] == verdicts[f"{r['backend']}/cpu/reference"] for r in records)
    assert {r["backend"]: r["status"] for r in records if r["backend"] != "aborts"} == {
        "numpy": "ok", "off_by_a_bit": "ok"}  # a failing check flags the numbers; it does not stop them


@pytest.mark.slow
def test_a_hanging_check_is_stopped_at_the_timeout(install_fake_plugin):
    install_fake_plugin("misbehaving", "misbehaving")
    verdict = check_in_subprocess("hangs", "cpu", "float32", threads=1, timeout_s=5.0, memory_limit_mb=None)
    assert verdict.ok is None and verdict.error == "the check did not finish within 5 s"
