"""The guards flag what is implausible in real result files, each rule on its own, and nothing in a clean run."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paths import GOLDEN

from rnnbench.report.compare import compare_runs
from rnnbench.report.model import load_report_data
from rnnbench.report.verdict import verdict
from rnnbench.results.frame import load_results
from rnnbench.results.guards import trend

ROUNDS = GOLDEN / "compare-rounds"  # numpy and torch, airline LSTM, five rounds


def _copy(tmp_path: Path, change: Callable[[dict[str, Any]], None], source: Path = ROUNDS) -> Path:
    target = tmp_path / "run"
    shutil.copytree(source, target)
    records = [json.loads(line) for line in (source / "records.jsonl").read_text().splitlines()]
    for record in records:
        change(record)
    (target / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return target


def _flags(run: Path) -> dict[tuple[str, str, int], list[str]]:
    frame = load_results(run)
    return {(r.backend, r.cell, int(r["repeat"])): r.implausible for _, r in frame.iterrows() if r.implausible}


def _numpy_round(number: int, change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(record: dict[str, Any]) -> None:
        if record["backend"] == "numpy" and record["config"]["repeat"] == number:
            change(record)
    return apply


def _scale(factor: float) -> Callable[[dict[str, Any]], None]:
    def apply(record: dict[str, Any]) -> None:
        train = record["throughput"]["train"]
        train["samples_s"] = [s * factor for s in train["samples_s"]]
        train["summary"]["median"] *= factor
    return apply


def test_numpy_processes_of_the_real_run_agree_and_nothing_else_is_flagged_there():
    flagged = _flags(ROUNDS)
    assert not any(backend == "numpy" for backend, _, _ in flagged)


def test_a_process_far_from_its_siblings_is_flagged_alone(tmp_path):
    flagged = _flags(_copy(tmp_path, _numpy_round(3, _scale(2.0))))
    numpy = {key: reasons for key, reasons in flagged.items() if key[0] == "numpy"}
    assert list(numpy) == [("numpy", "lstm", 3)]
    [reason] = numpy[("numpy", "lstm", 3)]  # about 2x: its siblings' own medians differ a little
    assert re.fullmatch(r"training: this process took 2\.0\dx the median of the other 4 processes of the case", reason)


def test_a_cpu_wait_and_subnormal_values_are_flagged(tmp_path):
    def busy_and_subnormal(record: dict[str, Any]) -> None:
        record["throughput"]["infer"]["cpu_wait_share"] = 0.46
        record["subnormal"] = {"params": 0.0, "grads": 0.027}

    run = _copy(tmp_path, _numpy_round(1, busy_and_subnormal))
    reasons = _flags(run)[("numpy", "lstm", 1)]
    assert reasons == ["2.7% of the gradients are subnormal at the end of the process (slow arithmetic where the "
                       "framework does not flush them)",
                       "inference: the process's threads waited for a CPU 46% of the timed time, no sibling recorded "
                       "its own (something else ran on its cores); left out of the tests and intervals"]
    # The busy process timed its neighbour: its inference is left out of every test, its training is not.
    processes = {(c.case_id.split("/")[0], c.kind): c.n_base for c in compare_runs(run, run).comparisons}
    assert processes == {("numpy", "infer"): 4, ("numpy", "train"): 5, ("torch", "infer"): 5, ("torch", "train"): 5}


def test_a_cheaper_cell_that_costs_more_than_a_dearer_one_is_flagged(tmp_path):
    """The same numpy LSTM records, relabelled as an RNN that took 40x as long: the 38x case of issue 26."""
    def copy_as_rnn(source: Path) -> Path:
        target = tmp_path / "cells"
        shutil.copytree(source, target)
        lines = (source / "records.jsonl").read_text().splitlines()
        extra = []
        for line in lines:
            record = json.loads(line)
            if record["backend"] == "numpy":
                record["cell"] = record["config"]["cell"] = "rnn"
                record["case_id"] = record["case_id"].replace("/lstm/", "/rnn/")
                if "case_key" in record:  # schema 2 records have none: migration derives it from the id
                    record["case_key"] = record["case_key"].replace("/lstm/", "/rnn/")
                record["flops"] = {k: v / 4 for k, v in record["flops"].items()}  # one gate, not four
                _scale(40.0)(record)
                extra.append(json.dumps(record))
        (target / "records.jsonl").write_text("\n".join(lines + extra) + "\n")
        return target

    flagged = _flags(copy_as_rnn(ROUNDS))
    rnn = [reasons for (backend, cell, _), reasons in flagged.items() if (backend, cell) == ("numpy", "rnn")]
    assert len(rnn) == 5 and all("the rnn step took 40.0x the lstm step" in " ".join(r) for r in rnn)
    caveats = [c for c in verdict(load_report_data(tmp_path / "cells")).caveats if c.startswith("Implausible")]
    assert any(c.startswith("Implausible: numpy airline rnn (rounds 0, 1, 2, 3, 4): training: the rnn step took "
                            "40.0x") for c in caveats)


@pytest.mark.parametrize(("samples", "expected"), [
    ([1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7], pytest.approx(0.52, abs=0.02)),  # rising by half: flagged
    ([1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0], pytest.approx(-0.52, abs=0.02)),
    ([1.0, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07], None),  # monotonic but under 25%
    ([1.0, 1.5, 1.0, 1.5, 1.0, 1.5, 1.0, 1.5], None),  # large but no trend
    ([1.0, 1.2, 1.4, 1.6, 1.8], None),  # five samples: too few to call a trend at p < 0.01
])
def test_a_trend_within_a_process(samples, expected):
    assert trend(samples) == expected


def test_a_wait_every_process_shares_is_the_framework_s_own_and_not_flagged(tmp_path):
    """XLA's pool has more threads than cores: JAX waits in every process alike. Only a process that waited
    far longer than its siblings timed a neighbour."""
    def waits(record: dict[str, Any]) -> None:
        record["throughput"]["infer"]["cpu_wait_share"] = 0.9 if record["config"]["repeat"] == 2 else 0.4

    flagged = _flags(_copy(tmp_path, waits))
    assert {key for key, reasons in flagged.items() if any("waited for a CPU" in r for r in reasons)} == {
        ("numpy", "lstm", 2), ("torch", "lstm", 2)}
