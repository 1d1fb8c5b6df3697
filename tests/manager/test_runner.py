"""The runner across the process boundary: real workers that crash, hang, hog memory or diverge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from terminal import hears_ctrl_c

from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import run
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.results.frame import load_results
from rnnbench.results.store import RECORDS_FILE, read_records

# The conformance pre-check has its own tests (test_precheck.py); here it would only add a hanging check.
SMALL = dict(tasks=("airline",), cells=("rnn",), modes=("throughput",), profile="smoke", threads=1, check=False)


@pytest.fixture
def misbehaving(install_fake_plugin) -> Registry:
    install_fake_plugin("misbehaving", "misbehaving")
    return Registry(make_plugin_manager())


@pytest.mark.slow
def test_each_failure_is_recorded_with_its_reason_and_the_run_goes_on(misbehaving, tmp_path):
    options = RunOptions(backends=("aborts", "hangs", "hog", "nan", "numpy"), timeout_s=10.0,
                         memory_limit_mb=3000, **SMALL)
    report = run(options, tmp_path, registry=misbehaving, quiet=True)
    by_backend = {r["backend"]: r for r in read_records(report.run_dir)}
    assert {b: r["status"] for b, r in by_backend.items()} == {
        "aborts": "crashed", "hangs": "timeout", "hog": "oom", "nan": "nan", "numpy": "ok"}
    assert "SIGABRT" in by_backend["aborts"]["error"]
    assert "10 s timeout" in by_backend["hangs"]["error"]
    assert "rnnbench.worker" in by_backend["aborts"]["command"]
    assert by_backend["aborts"]["stderr_tail"]
    assert by_backend["numpy"]["throughput"]["train"]["samples_s"]


def _wait_for_records(path: Path, count: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.is_file() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} did not get {count} records in {timeout_s} s")


@pytest.mark.slow
def test_sigint_keeps_finished_records_and_resume_runs_the_rest(misbehaving, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('backends = ["numpy", "hangs"]\ntasks = ["airline"]\ncells = ["rnn", "gru"]\n'
                      'modes = ["throughput"]\nprofile = "smoke"\nthreads = 1\ntimeout_s = 6.0\ncheck = false\n')
    command = [sys.executable, "-m", "rnnbench", "run", "--config", str(config), "--results-dir",
               str(tmp_path / "results")]
    manager = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=hears_ctrl_c)
    _wait_for_records_dir = tmp_path / "results"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(_wait_for_records_dir.glob(f"*/{RECORDS_FILE}")):
        time.sleep(0.2)
    [records] = list(_wait_for_records_dir.glob(f"*/{RECORDS_FILE}"))
    _wait_for_records(records, 1)
    manager.send_signal(signal.SIGINT)  # while a case runs: each hanging case takes 6 s, numpy's under a second
    out, err = manager.communicate(timeout=60)
    assert manager.returncode == 130, err
    run_dir = records.parent
    assert f"rnnbench run --resume {run_dir}" in err
    first = list(read_records(run_dir))  # the rounds run in a random order: numpy's process first, or hangs'
    assert 1 <= len(first) < 4 and all(r["status"] == ("ok" if r["backend"] == "numpy" else "timeout") for r in first)
    resumed = subprocess.run([sys.executable, "-m", "rnnbench", "run", "--resume", str(run_dir), "--quiet"],
                             capture_output=True, text=True, timeout=300, env=os.environ)
    assert resumed.returncode == 0, resumed.stderr
    frame = load_results(run_dir)
    assert sorted(zip(frame.backend, frame.cell, frame.status, strict=True)) == [
        ("hangs", "gru", "timeout"), ("hangs", "rnn", "timeout"), ("numpy", "gru", "ok"), ("numpy", "rnn", "ok")]
    assert json.loads((run_dir / "run.json").read_text())["options"]["timeout_s"] == 6.0
