"""The worker process: `python -m rnnbench.worker CASE_JSON OUT_JSON` writes one document and exits 0.

The process boundary is the point here, so these run real subprocesses
(about a second each, NumPy backend, tiny shapes), in the environment the
manager gives a worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rnnbench.case import Case
from rnnbench.document import KEYS, is_oom, write_document
from rnnbench.host import thread_environment
from rnnbench.manager import process as manager
from rnnbench.worker.main import jsonable, main, one_line, run_files

WORKER_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    """The environment the manager would give a one-thread worker."""
    return {**os.environ, **manager.WORKER_ENV, **thread_environment(1)}


def small_case(**changes: Any) -> Case:
    fields: dict[str, Any] = dict(backend="numpy", task="char_rnn", cell="gru", device="cpu", mode="throughput",
                                  profile="smoke", synthetic=True, hidden_size=8, batch_size=4, seq_len=5,
                                  warmup=1, steps=3)
    return Case(**(fields | changes))


def run_worker(case: Case, folder: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str],
                                                                      dict[str, Any] | None]:
    """Run the worker on ``case``; its process result and its document, if it wrote one."""
    case_file, out_file = folder / "case.json", folder / "out.json"
    case_file.write_text(json.dumps(case.to_dict()))
    done = subprocess.run([sys.executable, "-m", "rnnbench.worker", str(case_file), str(out_file)],
                          capture_output=True, text=True, env=env, timeout=WORKER_TIMEOUT_S)
    doc = json.loads(out_file.read_text(), parse_constant=_refuse) if out_file.exists() else None
    return done, doc


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_worker_process_writes_one_document(tmp_path: Path, worker_env: dict[str, str]) -> None:
    done, doc = run_worker(small_case(), tmp_path, worker_env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert doc is not None and tuple(doc) == KEYS
    assert doc["status"] == "ok", doc["traceback"]
    assert len(doc["throughput"]["train"]["samples_s"]) == 3 and doc["throughput"]["infer"]["summary"]["n"] == 3
    assert doc["runtime"]["settings"]["cpu_affinity"] == str(min(os.sched_getaffinity(0)))  # pinned to one CPU
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "out.json"]  # no temporary file left


def test_the_manager_accepts_the_document(tmp_path: Path) -> None:
    outcome = manager.run_worker(small_case(mode="memory", memory_steps=1), WORKER_TIMEOUT_S, tmp_path)
    assert manager.classify(outcome, WORKER_TIMEOUT_S) == ("ok", None), outcome.output_tail
    assert outcome.returncode == 0 and outcome.document is not None and outcome.document["memory"]["steps"] == 2


def test_a_failing_case_is_a_failed_document_and_exit_0(tmp_path: Path, worker_env: dict[str, str]) -> None:
    done, doc = run_worker(small_case(device="cuda:7"), tmp_path, worker_env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert doc is not None and doc["status"] == "failed"
    assert doc["error"] == "UsageError: Device 'cuda:7' is not supported by the numpy backend. Accepted: cpu"
    assert "Traceback" in doc["traceback"] and "backend.build" in doc["traceback"]
    assert doc["spec"]["hidden_size"] == 8 and doc["throughput"] is None  # what was known before the failure


def test_the_memory_limit_turns_a_big_allocation_into_oom(tmp_path: Path, worker_env: dict[str, str]) -> None:
    """400 MB of address space runs a NumPy case; the 512 MiB (H, H) draw of H = 8192 cannot fit."""
    done, doc = run_worker(small_case(cell="rnn", hidden_size=8192, memory_limit_mb=400), tmp_path, worker_env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert doc is not None and doc["status"] == "oom", doc["error"]
    assert doc["error"].startswith("MemoryError: Unable to allocate 512. MiB")  # the weights, not an import
    assert doc["runtime"]["settings"]["memory_limit"] == "RLIMIT_AS 400 MB"


def test_the_same_limit_lets_a_small_case_run(tmp_path: Path, worker_env: dict[str, str]) -> None:
    done, doc = run_worker(small_case(memory_limit_mb=400), tmp_path, worker_env)
    assert doc is not None and doc["status"] == "ok", doc and doc["error"]


def test_an_unreadable_case_is_a_failed_document(tmp_path: Path) -> None:
    (tmp_path / "case.json").write_text('{"backend": "numpy", "colour": "blue"}')
    run_files([(str(tmp_path / "case.json"), str(tmp_path / "out.json"))], started=0.0)
    doc = json.loads((tmp_path / "out.json").read_text())
    assert tuple(doc) == KEYS and doc["status"] == "failed"
    assert doc["error"].startswith("UsageError: case field 'colour' is not valid")


def test_usage_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["only-one"]) == 2
    assert "usage: python -m rnnbench.worker CASE_JSON OUT_JSON" in capsys.readouterr().err


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    write_document(str(target), {"status": "ok"})
    assert json.loads(target.read_text()) == {"status": "ok"} and list(tmp_path.iterdir()) == [target]
    with pytest.raises(ValueError):
        write_document(str(target), {"x": float("nan")})  # never a document that strict JSON rejects
    assert json.loads(target.read_text()) == {"status": "ok"} and list(tmp_path.iterdir()) == [target]


def test_jsonable_drops_non_finite_and_numpy_types() -> None:
    import numpy as np

    value = {"a": float("nan"), "b": (np.float32(1.5), np.int64(2)), "c": np.array([1.0, np.inf]), 3: None}
    assert jsonable(value) == {"a": None, "b": [1.5, 2], "c": [1.0, None], "3": None}


@pytest.mark.parametrize(("exc", "oom"), [
    (MemoryError(), True),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), True),
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00GiB"), True),
    (type("ResourceExhaustedError", (Exception,), {})("OOM when allocating tensor"), True),
    (ValueError("shapes (3,4) and (5,6) not aligned"), False),
])
def test_out_of_memory_is_recognised_across_frameworks(exc: Exception, oom: bool) -> None:
    assert is_oom(exc) is oom


def test_errors_are_one_line() -> None:
    assert one_line(ValueError("first\n  second\tthird")) == "ValueError: first second third"
    assert one_line(MemoryError()) == "MemoryError"
