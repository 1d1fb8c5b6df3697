"""A memory case and its throughput twin share one worker process, memory first; isolation where it matters."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnbench.manager.case import Case
from rnnbench.manager.executors.local import groups
from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import run
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import read_records

SMALL = dict(tasks=("airline",), cells=("gru",), profile="smoke", threads=1, check=False)


def _case(mode: str, **changes: object) -> Case:
    return Case(**{"backend": "numpy", "task": "airline", "cell": "gru", "device": "cpu", "mode": mode,
                   **changes})  # type: ignore[arg-type]


def test_only_a_memory_case_and_the_throughput_case_of_the_same_configuration_are_grouped() -> None:
    memory, throughput, accuracy = _case("memory"), _case("throughput"), _case("accuracy")
    other = _case("throughput", hidden_size=16)
    assert groups([memory, other, throughput, accuracy]) == [[memory, throughput], [other], [accuracy]]
    assert groups([throughput, accuracy, memory]) == [[memory, throughput], [accuracy]]  # memory always first
    assert groups([throughput, other]) == [[throughput], [other]]  # no memory twin: each alone


def test_memory_is_measured_first_and_throughput_reports_the_processs_first_step(tmp_path: Path) -> None:
    options = RunOptions(backends=("numpy",), modes=("memory", "throughput"), **SMALL)  # type: ignore[arg-type]
    records = {r["mode"]: r for r in read_records(run(options, tmp_path, quiet=True).run_dir)}

    assert records["memory"]["process"] == {"after": []}  # the process's first case
    assert records["throughput"]["process"] == {"after": [records["memory"]["case_id"]]}
    train = records["throughput"]["throughput"]["train"]
    assert train["first_step_s"] == records["memory"]["memory"]["first_step_s"]  # compile time stays visible
    assert train["first_step_of"].startswith("the memory pass")
    assert {r["status"] for r in records.values()} == {"ok"}


def test_a_case_whose_partner_crashed_the_shared_process_runs_again_alone(install_fake_plugin, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_plugin("once", "aborts_once")
    monkeypatch.setenv("RNNBENCH_TEST_ABORT_MARKER", str(tmp_path / "marker"))
    options = RunOptions(backends=("aborts_once",), modes=("memory", "throughput"), **SMALL)  # type: ignore[arg-type]
    records = {r["mode"]: r for r in read_records(run(options, tmp_path / "runs", registry=Registry(),
                                                      quiet=True).run_dir)}

    assert records["memory"]["status"] == "crashed" and "SIGABRT" in records["memory"]["error"]
    assert records["throughput"]["status"] == "ok"
    assert records["throughput"]["process"] == {"after": []}  # a fresh process of its own
    assert "first_step_of" not in records["throughput"]["throughput"]["train"]
