"""Which cases share a worker process, in what order; memory measured first; a crash costs only its own case."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rnnbench.case import Case
from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import run
from rnnbench.manager.schedule import schedule
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import read_records

SMALL = dict(tasks=("airline",), profile="smoke", threads=1, check=False)


def _case(mode: str, backend: str = "numpy", **changes: object) -> Case:
    return Case(**{"backend": backend, "task": "airline", "cell": "gru", "device": "cpu", "mode": mode,
                   **changes})  # type: ignore[arg-type]


def test_memory_comes_first_in_its_own_process_with_the_accuracy_of_its_configuration() -> None:
    memory, accuracy = _case("memory"), _case("accuracy", stop_at_target=True)
    other = _case("memory", hidden_size=16)
    processes = schedule([accuracy, other, memory], seed=0)
    assert sorted(processes, key=len) == [[other], [memory, accuracy]]
    assert schedule([accuracy], seed=0) == [[accuracy]]  # without its memory case: alone


def test_each_round_shares_one_process_per_backend_in_a_random_order() -> None:
    cells = ("rnn", "lstm", "gru")
    cases = [_case("throughput", backend, cell=cell, repeat=r) for r in range(3) for backend in ("numpy", "torch")
             for cell in cells]
    processes = schedule(cases, seed=1)
    assert sorted(c.case_id for p in processes for c in p) == sorted(c.case_id for c in cases)  # each case once
    assert [len(p) for p in processes] == [3] * 6  # one process per round and backend, every cell in it
    assert [{c.repeat for c in p} for p in processes] == [{0}, {0}, {1}, {1}, {2}, {2}]  # rounds in order
    assert all(len({c.backend for c in p}) == 1 for p in processes)
    orders = {tuple(c.cell for c in p) for p in processes}
    backends = [tuple(p[0].backend for p in processes[r:r + 2]) for r in (0, 2, 4)]
    assert len(orders) > 1 or len(set(backends)) > 1  # not the matrix order every time
    assert schedule(cases, seed=1) == processes and schedule(cases, seed=2) != processes  # the seed fixes it


def test_latency_is_timed_every_round_in_the_round_s_process_of_its_backend_on_a_setup_of_its_own() -> None:
    from rnnbench.manager.options import expand
    from rnnbench.worker.main import shares_setup

    options = RunOptions(backends=("numpy",), tasks=("airline",), cells=("gru",), modes=("throughput", "latency"),
                         rounds=3)
    cases = expand(options, Registry(), ["numpy"], {"numpy": ["cpu"]})
    assert sorted((c.mode, c.repeat) for c in cases) == [(m, r) for m in ("latency", "throughput") for r in range(3)]
    processes = schedule(cases, seed=0)
    assert [sorted(c.mode for c in p) for p in processes] == [["latency", "throughput"]] * 3
    latency, throughput = sorted(processes[0], key=lambda c: c.mode)
    assert not shares_setup(throughput, latency) and not shares_setup(latency, throughput)  # its batch is 1
    assert "latency" not in RunOptions().modes  # asked for, never a default run's


def test_settings_a_process_applies_once_part_processes() -> None:
    one, two = _case("throughput", threads=1), _case("throughput", threads=2, cell="lstm")
    assert sorted(map(len, schedule([one, two, dataclasses.replace(one, flush_denormals=True)], seed=0))) == [1, 1, 1]


@pytest.mark.slow
def test_a_process_serves_every_throughput_case_of_its_backend_and_memory_is_measured_first(tmp_path: Path) -> None:
    options = RunOptions(backends=("numpy",), cells=("gru", "rnn"), rounds=2, **SMALL)  # type: ignore[arg-type]
    records = list(read_records(run(options, tmp_path, quiet=True).run_dir))
    timed = [r for r in records if r["mode"] == "throughput"]
    assert len(timed) == 4 and {r["status"] for r in records} == {"ok"}
    by_round = {r: {t["process"]["id"] for t in timed if t["config"]["repeat"] == r} for r in (0, 1)}
    assert all(len(ids) == 1 for ids in by_round.values()) and by_round[0] != by_round[1]  # one process a round
    assert sorted(t["process"]["position"] for t in timed) == [0, 0, 1, 1]
    for record in records:
        if record["mode"] == "memory":  # the first case of a fresh process, the accuracy case after it
            assert record["process"]["position"] == 0
            accuracy = next(r for r in records if r["mode"] == "accuracy" and r["cell"] == record["cell"])
            assert accuracy["process"]["id"] == record["process"]["id"] and accuracy["process"]["position"] == 1
    assert all(set(t["subnormal"]) == {"params", "grads"} for t in timed)


@pytest.mark.slow
def test_cases_after_a_crash_of_their_shared_process_run_again_alone(install_fake_plugin, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_plugin("once", "aborts_once")
    monkeypatch.setenv("RNNBENCH_TEST_ABORT_MARKER", str(tmp_path / "marker"))
    options = RunOptions(backends=("aborts_once",), cells=("gru", "rnn"),  # type: ignore[arg-type]
                         modes=("throughput",), **SMALL)
    records = list(read_records(run(options, tmp_path / "runs", registry=Registry(), quiet=True).run_dir))
    crashed = [r for r in records if r["status"] == "crashed"]
    assert len(crashed) == 1 and "SIGABRT" in crashed[0]["error"]
    [rerun] = [r for r in records if r["status"] == "ok"]
    assert rerun["process"]["position"] == 0 and rerun["process"]["after"] == []  # a fresh process of its own
