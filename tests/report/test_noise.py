"""`rnnbench noise`: a real A/A run, its summary beside its environment, and later verdicts that quote it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from paths import GOLDEN

from rnnbench.report.model import load_report_data
from rnnbench.report.noise import NOISE_FILE, find_noise
from rnnbench.report.verdict import verdict


@pytest.mark.slow
@pytest.mark.alone  # an A/A run's spread: a test on the other core would be its noise
def test_noise_runs_an_a_a_and_the_next_verdict_on_the_machine_quotes_it(cli, tmp_path: Path) -> None:
    results = tmp_path / "results"
    code, out, err = cli("noise", "--backend", "numpy", "--task", "airline", "--cell", "rnn", "--profile", "smoke",
                         "--rounds", "3", "--threads", "1", "--results-dir", str(results), "--quiet")
    assert code == 0, err
    [run] = [p for p in results.iterdir() if (p / NOISE_FILE).is_file()]
    summary = json.loads((run / NOISE_FILE).read_text())
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert sorted(r["config"]["repeat"] for r in records) == list(range(6))  # two halves of three rounds
    assert {r["mode"] for r in records} == {"throughput"} and summary["rounds_a_side"] == 3
    assert summary["tests"] == 2 and [c["kind"] for c in summary["cases"]] == ["train", "infer"]
    assert all(c["processes"] == [3, 3] and c["minimum_detectable_ratio"] > 1 for c in summary["cases"])
    assert summary["significant"] == sum(c["significant"] for c in summary["cases"])
    assert summary["run_spread"] >= 0 and all(c["error"] > 0 for c in summary["cases"])
    assert "A/A ratio" in out and "noise.json" in out and "identical comparisons significant" in out
    machine = records[0]["machine"]
    assert find_noise(run, machine) == summary and find_noise(run, "another machine") is None

    later = results / "later"  # a run of the same machine in the same results folder
    shutil.copytree(GOLDEN / "compare-rounds", later)
    lines = [json.loads(line) for line in (later / "records.jsonl").read_text().splitlines()]
    (later / "records.jsonl").write_text("".join(json.dumps(r | {"machine": machine}) + "\n" for r in lines))
    ratio = summary["median_minimum_detectable_ratio"]
    quoted = [c for c in verdict(load_report_data(later)).caveats if "are not resolved" in c]
    assert quoted == [f"On {machine} differences under {100 * (ratio - 1):.0f}% are not resolved (3 processes a "
                      f"side, 80% power); its A/A run ({summary['run_id']}) called {summary['significant']} of 2 "
                      "identical comparisons significant at p < 0.05 (rnnbench noise)."]
    elsewhere = verdict(load_report_data(GOLDEN / "compare-rounds")).caveats
    assert any(c.startswith("No A/A run of ") for c in elsewhere)


@pytest.mark.slow  # not alone: nothing here depends on how noisy the machine is, only on what is compared
def test_a_latency_a_a_compares_each_process_p99_and_streaming_p50_and_latency_verdicts_quote_it(
        cli, tmp_path: Path) -> None:
    results = tmp_path / "results"
    code, out, err = cli("noise", "--mode", "latency", "--backend", "numpy", "--implementation", "reference",
                         "--task", "airline", "--cell", "gru",
                         "--profile", "smoke", "--rounds", "3", "--threads", "1", "--results-dir", str(results),
                         "--quiet")
    assert code == 0, err
    [run] = [p for p in results.iterdir() if (p / NOISE_FILE).is_file()]
    summary = json.loads((run / NOISE_FILE).read_text())
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert {r["mode"] for r in records} == {"latency"} and len(records) == 6
    assert {r["config"]["implementation"] for r in records} == {"reference"}  # chosen, as run chooses it
    assert summary["mode"] == "latency" and [c["kind"] for c in summary["cases"]] == ["whole p99", "stream p50"]
    assert summary["tests"] == 2 and all(c["processes"] == [3, 3] for c in summary["cases"])
    machine = records[0]["machine"]
    assert find_noise(run, machine, "latency") == summary and find_noise(run, machine) is None  # not throughput's

    later = results / "later"  # a latency run of the same machine in the same results folder
    shutil.copytree(GOLDEN / "report-latency", later)
    lines = [json.loads(line) for line in (later / "records.jsonl").read_text().splitlines()]
    (later / "records.jsonl").write_text("".join(json.dumps(r | {"machine": machine}) + "\n" for r in lines))
    [quoted] = [c for c in verdict(load_report_data(later)).caveats if "A/A run" in c]  # latency's, and only it
    assert quoted.startswith(f"On {machine} ") and f"its latency A/A run ({summary['run_id']})" in quoted


def test_noise_needs_processes_to_compare(cli, tmp_path: Path) -> None:
    code, _, err = cli("noise", "--backend", "numpy", "--profile", "smoke", "--results-dir", str(tmp_path))
    assert code == 2 and "one process a side" in err and not any(tmp_path.iterdir())


def test_the_a_a_run_of_the_same_cases_is_preferred_to_a_newer_one_of_others(tmp_path: Path) -> None:
    def save(name: str, keys: list[str]) -> dict:
        noise = {"machine": "vm", "mode": "latency", "tests": len(keys), "run_id": name,
                 "cases": [{"case_key": key} for key in keys]}
        (tmp_path / name).mkdir()
        (tmp_path / name / NOISE_FILE).write_text(json.dumps(noise))
        return noise

    same = save("older-same-cases", ["torch/airline/lstm", "torch/airline/lstm/impl=aoti"])
    other = save("newer-other-cases", ["numpy/forecasting/lstm"])
    os.utime(tmp_path / "older-same-cases" / NOISE_FILE, (1, 1))  # older, beyond any clock's doubt
    run = tmp_path / "a-run"
    assert find_noise(run, "vm", "latency") == other  # nothing known of the run's cases: the newest
    assert find_noise(run, "vm", "latency", {"torch/airline/lstm/impl=aoti"}) == same
    assert find_noise(run, "vm", "latency", {"jax/imdb/gru"}) == other  # no A/A of its cases: the newest
