"""pytest-benchmark JSON files as throughput records: rnnbench/benchjson.py and the results/frame hooks.

The golden files are a real run of tests/benchmarks/test_micro.py (see
tests/golden/README.md); every expected figure is recomputed here from the
raw JSON, independently of the code under test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from paths import GOLDEN

from rnnbench import load_results
from rnnbench.results.pytest_benchmark import TASK, is_benchmark_file, read_records, run_id_of
from rnnbench.results.schema import SCHEMA_VERSION, ResultsError, validate
from rnnbench.results.store import read_environments, run_dirs

WITH_DATA = GOLDEN / "bench" / "micro.json"  # --benchmark-json: per-round samples included
SUMMARY_ONLY = GOLDEN / "bench" / "0001_golden.json"  # autosaved without --benchmark-save-data


def raw(path: Path) -> dict:
    return json.loads(path.read_text())


def by_name(path: Path) -> dict[str, dict]:
    return {b["fullname"]: b for b in raw(path)["benchmarks"]}


def test_each_micro_benchmark_is_one_valid_throughput_record() -> None:
    records = list(read_records(WITH_DATA))
    assert [validate(r) for r in records] == records
    benches = by_name(WITH_DATA)
    assert sorted(r["case_id"] for r in records) == sorted(benches)
    for record in records:
        extra = benches[record["case_id"]]["extra_info"]
        assert (record["backend"], record["cell"], record["device"]) == (extra["backend"], "lstm", "cpu")
        assert (record["task"], record["mode"], record["status"]) == (TASK, "throughput", "ok")
        assert record["schema"] == SCHEMA_VERSION
        assert record["runtime"]["kernel_path"] == extra["kernel_path"]
        assert record["machine"] == extra["machine"] == "vm (AMD EPYC, no GPU)"


def test_samples_become_rnnbench_summaries_and_rates() -> None:
    frame = load_results(WITH_DATA).set_index("case_id")
    for name, bench in by_name(WITH_DATA).items():
        row, stats, extra = frame.loc[name], bench["stats"], bench["extra_info"]
        kind, other = ("train", "infer") if extra["kind"] == "train_step" else ("infer", "train")
        assert row[f"{kind}_samples_s"] == stats["data"]
        assert row[f"{kind}_step_s"] == pytest.approx(np.median(stats["data"]))
        assert row[f"{kind}_step_ci_low_s"] <= row[f"{kind}_step_s"] <= row[f"{kind}_step_ci_high_s"]
        mean = np.mean(stats["data"])  # rates are total items over total time, as in the worker's records
        assert row[f"{kind}_samples_per_s"] == pytest.approx(32 / mean)  # B = 32
        assert row[f"{kind}_tokens_per_s"] == pytest.approx(32 * 25 / mean)  # T = 25
        assert row[f"{kind}_gflops"] == pytest.approx(extra["flops"] / mean / 1e9)
        assert row[f"{kind}_first_step_s"] == extra["first_call_s"]
        assert np.isnan(row[f"{other}_step_s"])
        assert (row.batch_size, row.seq_len, row.hidden_size, row.num_layers) == (32, 25, 64, 1)


def test_a_stalled_round_lowers_the_rate_but_not_the_median(tmp_path: Path) -> None:
    document = raw(WITH_DATA)
    bench = document["benchmarks"][0]
    data = bench["stats"]["data"]
    data[0] = 100 * max(data)  # the machine stalled in one round
    stalled = tmp_path / "stalled.json"
    stalled.write_text(json.dumps(document))
    record = next(r for r in read_records(stalled) if r["case_id"] == bench["fullname"])
    block = record["throughput"]["train" if bench["extra_info"]["kind"] == "train_step" else "infer"]
    # Total items over total time counts the stall (the worker's rule); the median step, which the report
    # shows and compare tests, does not move.
    assert block["samples_per_s"] == pytest.approx(32 / np.mean(data))
    assert block["gflops"] == pytest.approx(bench["extra_info"]["flops"] / np.mean(data) / 1e9)
    assert block["summary"]["median"] == pytest.approx(np.median(data))
    assert block["samples_per_s"] < 0.5 * 32 / np.median(data)


def test_without_samples_the_summary_is_pytest_benchmarks_own() -> None:
    frame = load_results(SUMMARY_ONLY).set_index("case_id")
    for name, bench in by_name(SUMMARY_ONLY).items():
        assert "data" not in bench["stats"]
        kind = "train" if bench["extra_info"]["kind"] == "train_step" else "infer"
        row = frame.loc[name]
        assert row[f"{kind}_step_s"] == bench["stats"]["median"]
        assert row[f"{kind}_step_iqr_s"] == pytest.approx(bench["stats"]["q3"] - bench["stats"]["q1"])
        assert row[f"{kind}_samples_s"] is None and row[f"{kind}_step_ci_low_s"] is None
        assert row[f"{kind}_samples_per_s"] == pytest.approx(32 / bench["stats"]["mean"])


def test_run_ids_come_from_the_file_name_and_time() -> None:
    assert set(load_results(WITH_DATA).run_id) == {"micro-20261122-091155"}
    assert set(load_results(SUMMARY_ONLY).run_id) == {"0001_golden-20261122-091155"}


def test_an_autosaved_name_already_holds_the_time(tmp_path: Path) -> None:
    # Named at the session's start, so its stamp need not equal the file's datetime (written at the end).
    copy = tmp_path / "0002_abc123_20261122_091032_uncommitted-changes.json"
    shutil.copy(SUMMARY_ONLY, copy)
    assert run_id_of(copy, raw(copy)) == copy.stem


def test_run_dirs_finds_benchmark_files_beside_run_folders(tmp_path: Path) -> None:
    shutil.copytree(GOLDEN / "run-v1", tmp_path / "run-v1")
    (tmp_path / "Linux-CPython-3.11-64bit").mkdir()
    shutil.copy(SUMMARY_ONLY, tmp_path / "Linux-CPython-3.11-64bit" / SUMMARY_ONLY.name)
    shutil.copy(WITH_DATA, tmp_path / "ci.json")
    (tmp_path / "run-v1" / "environment.json").write_text('{"machine": "m"}')  # JSON, not a benchmark file
    found = run_dirs([tmp_path])
    assert found == [tmp_path / "run-v1", tmp_path / "ci.json",
                     tmp_path / "Linux-CPython-3.11-64bit" / SUMMARY_ONLY.name]
    frame = load_results(tmp_path)
    assert sorted(frame.task.unique()) == sorted({TASK, *load_results(GOLDEN / "run-v1").task})


def test_a_benchmark_not_made_by_rnnbench_is_left_out(tmp_path: Path) -> None:
    document = raw(WITH_DATA)
    del document["benchmarks"][0]["extra_info"]["rnnbench"]  # as for any other project's benchmark
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    assert len(list(read_records(edited))) == len(document["benchmarks"]) - 1


def test_a_json_file_that_is_not_from_pytest_benchmark_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "environment.json"
    other.write_text('{"machine": "m"}')
    assert not is_benchmark_file(other)
    with pytest.raises(ResultsError, match="is not a run folder. Accepted: .*pytest-benchmark JSON file"):
        run_dirs([other])


def test_the_environment_comes_from_machine_info() -> None:
    environments = read_environments(WITH_DATA)
    document = raw(WITH_DATA)
    assert list(environments) == ["vm (AMD EPYC, no GPU)"]
    environment = environments["vm (AMD EPYC, no GPU)"]
    assert environment["cpu_model"] == document["machine_info"]["cpu"]["brand_raw"]
    assert environment["python"] == document["machine_info"]["python_version"]
    assert environment["frameworks"] == {k: v for b in document["benchmarks"]
                                         for k, v in b["extra_info"]["versions"].items()}
    assert environment["threads"] == 2


def test_rnnbench_report_renders_the_benchmark_figures(tmp_path: Path) -> None:
    folder = tmp_path / "ci"
    folder.mkdir()
    shutil.copy(WITH_DATA, folder / "micro.json")
    out = tmp_path / "report.md"
    done = subprocess.run([sys.executable, "-m", "rnnbench", "report", str(folder), "--format", "markdown",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "## micro" in text
    for bench in raw(WITH_DATA)["benchmarks"]:
        extra = bench["extra_info"]
        samples_per_s = extra["batch_size"] / np.median(bench["stats"]["data"])  # at the median step time
        row = next(line for line in text.splitlines() if line.startswith(f"| {extra['backend']} | lstm |"))
        assert f"{samples_per_s:,.0f}" in row and extra["kernel_path"] in row
