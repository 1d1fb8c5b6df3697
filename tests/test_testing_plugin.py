"""rnnbench.testing, the pytest plugin: conformance and micro-benchmarks of a backend named on the command line.

Each test runs pytest in a subprocess (pytester), as a plugin author would,
against real backends: the example plugin's ``torchloop`` (installed in the
test environment) and tests/plugins/off_by_a_bit.py, installed as a fake
distribution, whose gradients are 1e-5 too large and must fail float64.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnbench import load_results
from rnnbench.testing.micro import SHAPES, MicroCase

pytest_plugins = ["pytester"]

CONFORMANCE = ("-p", "rnnbench.testing", "--rnnbench-suite", "conformance")


@pytest.mark.slow
def test_conformance_suite_passes_for_a_third_party_backend(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*CONFORMANCE, "--rnnbench-backend", "torchloop", "-v")
    # 3 cells x 3 heads x 1-2 layers, in float64 and float32: one test each.
    result.assert_outcomes(passed=36)
    result.stdout.fnmatch_lines([
        "rnnbench: backends torchloop on cpu; suites conformance",
        "rnnbench.testing/conformance_suite.py::test_conformance[[]torchloop-lstm-lm-L1-float64[]] PASSED*",
        "rnnbench.testing/conformance_suite.py::test_conformance[[]torchloop-gru-regress-L2-float32[]] PASSED*",
    ])


def test_a_gradient_off_by_1e5_fails_every_float64_case(pytester: pytest.Pytester, install_fake_plugin) -> None:
    install_fake_plugin("off", "off_by_a_bit")
    result = pytester.runpytest_subprocess(*CONFORMANCE, "--rnnbench-backend", "off_by_a_bit")
    # 1e-5 is above float64's 1e-6 tolerance and below float32's 1e-4.
    result.assert_outcomes(passed=18, failed=18)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([  # in this order: the failures, then the summary
        "lstm-classify-L2-float64 grad: largest relative error 1e-05 > tolerance 1e-06 (absolute floor 0.001) in *",
        "FAILED rnnbench.testing/conformance_suite.py::test_conformance[[]off_by_a_bit-rnn-lm-L1-float64[]]*",
    ])
    assert "float32] FAILED" not in result.stdout.str() and "grad" in result.stdout.str()


def test_the_reference_is_checked_against_finite_differences(pytester: pytest.Pytester) -> None:
    collected = pytester.runpytest_subprocess(*CONFORMANCE, "--rnnbench-backend", "numpy", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(["18 tests collected*"])  # float64 only, as `rnnbench check --backend numpy`
    result = pytester.runpytest_subprocess(*CONFORMANCE, "--rnnbench-backend", "numpy", "-k", "gru-lm-L1")
    result.assert_outcomes(passed=1)


def test_a_dtype_the_backend_lacks_is_skipped_with_the_reason(pytester: pytest.Pytester, tmp_path: Path,
                                                               install_fake_plugin) -> None:
    (tmp_path / "float32_only.py").write_text(
        "from rnnbench import hookimpl\n"
        "from rnnbench.backends.numpy_backend import NumpyBackend\n\n"
        "class Float32Only(NumpyBackend):\n"
        "    name = 'float32_only'\n"
        "    dtypes = ('float32',)\n\n"
        "@hookimpl\n"
        "def rnnbench_register_backends():\n"
        "    return [Float32Only]\n")
    install_fake_plugin("f32", "float32_only")
    result = pytester.runpytest_subprocess(*CONFORMANCE, "--rnnbench-backend", "float32_only", "-rs")
    result.assert_outcomes(passed=18, skipped=18)
    result.stdout.fnmatch_lines(["SKIPPED *float64: float32_only supports only float32"])


def test_an_unknown_backend_stops_pytest_with_one_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "rnnbench.testing", "--rnnbench-backend", "torchloop,nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: Unknown backend 'nope'. Available: *torchloop*"])


def test_without_the_option_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine="def test_mine():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "rnnbench.testing", "-v")
    result.assert_outcomes(passed=1)
    assert "plugins: rnnbench-" in result.stdout.str()  # loaded, yet no header line and no test of its own
    assert "rnnbench:" not in result.stdout.str() and "rnnbench.testing/" not in result.stdout.str()


@pytest.mark.slow
def test_benchmarks_suite_times_the_backend_and_its_json_loads_as_records(pytester: pytest.Pytester) -> None:
    out = pytester.path / "bench.json"
    result = pytester.runpytest_subprocess(
        "-p", "rnnbench.testing", "--rnnbench-backend", "torchloop", "--rnnbench-suite", "benchmarks",
        "--benchmark-only", "-m", "not slow", "--rnnbench-rounds", "3", "--rnnbench-warmup", "0",
        f"--benchmark-json={out}")
    result.assert_outcomes(passed=6, deselected=6)  # 3 cells x forward/train_step at the small shape
    benchmarks = json.loads(out.read_text())["benchmarks"]
    assert sorted(b["name"] for b in benchmarks)[:2] == ["test_forward[torchloop-gru-H64-B32-T25]",
                                                         "test_forward[torchloop-lstm-H64-B32-T25]"]
    for bench in benchmarks:
        extra, stats = bench["extra_info"], bench["stats"]
        assert stats["rounds"] == 3 and len(stats["data"]) == 3
        assert extra["backend"] == "torchloop" and extra["kernel_path"].startswith("torchloop")
        assert bench["group"] == f"{extra['kind']} {extra['cell']}-H64-B32-T25"  # backends side by side
        assert extra["gflops"] == pytest.approx(extra["flops"] / stats["mean"] / 1e9)  # total FLOPs / total time
    frame = load_results(out)
    assert len(frame) == 6 and set(frame.backend) == {"torchloop"} and set(frame.task) == {"micro"}
    train = frame[frame.train_step_s.notna()]
    assert len(train) == 3 and train.infer_step_s.isna().all()
    assert np.allclose(sorted(train.train_step_s), sorted(float(np.median(b["stats"]["data"])) for b in benchmarks
                                                          if b["extra_info"]["kind"] == "train_step"))


@pytest.mark.slow
def test_benchmarks_of_a_backend_that_does_not_train_time_its_forward_and_skip_its_training_step(
        pytester: pytest.Pytester) -> None:
    out = pytester.path / "bench.json"
    result = pytester.runpytest_subprocess(
        "-p", "rnnbench.testing", "--rnnbench-backend", "onnxruntime", "--rnnbench-suite", "benchmarks",
        "--benchmark-only", "-m", "not slow", "--rnnbench-rounds", "3", "--rnnbench-warmup", "0",
        f"--benchmark-json={out}", "-rs")
    result.assert_outcomes(passed=3, skipped=3, deselected=6)
    assert "does not train (inference only)" in result.stdout.str()
    frame = load_results(out)
    assert len(frame) == 3 and frame.infer_step_s.notna().all() and frame.train_step_s.isna().all()


def test_a_hyphenated_backend_name_keeps_the_group_of_its_cell_and_shape() -> None:
    case = MicroCase("my-backend", "gru", SHAPES[1], device="cuda:0")
    assert case.id == "my-backend-gru-H512-B64-T50-cuda:0"
    assert case.workload == MicroCase("torch", "gru", SHAPES[1], device="cuda:0").workload == "gru-H512-B64-T50-cuda:0"


BENCH_FILE = """
import os, time

def test_sleep(benchmark):
    seconds = float(os.environ["SLEEP_S"])
    benchmark.pedantic(time.sleep, args=(seconds,), rounds=5, iterations=1)
"""


def _bench(cwd: Path, sleep_s: float) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rnnbench.testing.bench", "--storage", "saved", "-p", "no:cacheprovider",
               "test_sleep.py"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SLEEP_S": str(sleep_s)})


def _saved(cwd: Path) -> list[str]:
    return sorted(path.name for path in (cwd / "saved").glob("*/*.json"))


@pytest.mark.slow
def test_bench_runner_saves_first_then_fails_on_a_slowdown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sleep=BENCH_FILE)
    first = _bench(pytester.path, 0.001)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "no saved run" in first.stdout and "rnnbench bench: saved" in first.stdout
    (baseline,) = _saved(pytester.path)
    assert baseline.startswith("0001_") and "data" in json.loads(next((pytester.path / "saved").glob("*/0001_*"))
                                                                  .read_text())["benchmarks"][0]["stats"]
    second = _bench(pytester.path, 0.001)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"comparing with {pytester.path / 'saved'}" in second.stdout and baseline in second.stdout
    good = _saved(pytester.path)
    assert len(good) == 2 and good[1].startswith("0002_")
    slowed = _bench(pytester.path, 0.05)  # 50x the saved median: far past the default median:300%
    assert slowed.returncode == 1
    assert "Performance has regressed" in slowed.stdout + slowed.stderr
    assert "this run is not saved" in slowed.stdout and _saved(pytester.path) == good
    # The slow run did not become the baseline: still slow still fails, against the last passing run.
    again = _bench(pytester.path, 0.05)
    assert again.returncode == 1 and good[1] in again.stdout
    assert "Performance has regressed" in again.stdout + again.stderr and _saved(pytester.path) == good


def test_the_plugin_imports_no_framework() -> None:
    # pytest loads it in every session of an environment holding rnnbench, so it must stay light.
    code = ("import sys, rnnbench.testing, rnnbench.results.pytest_benchmark; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax', 'optax') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
