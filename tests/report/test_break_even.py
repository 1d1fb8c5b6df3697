"""Compile or not: the break-even of an implementation that starts slower, from throughput records alone."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
from paths import GOLDEN

from rnnbench.report.break_even import Contender, break_even_calls, section_rows
from rnnbench.report.html import render_html
from rnnbench.report.model import load_report_data
from rnnbench.report.text import render_markdown
from rnnbench.results.schema import migrate
from rnnbench.results.store import ENVIRONMENT_FILE, RECORDS_FILE, RUN_FILE, RecordWriter, write_json_file

TITLE = "Compile or not: when a slower start pays off"


def _total(c: Contender, calls: int) -> Fraction:
    return Fraction(c.first_s) + (calls - 1) * Fraction(c.steady_median_s)


@pytest.mark.parametrize(("late_first", "late_steady", "early_first", "early_steady"), [
    (5.0, 0.005, 0.05, 0.010), (18.8, 0.0031, 0.2, 0.0047), (1.0, 0.5, 0.99, 0.51), (0.3, 0.001, 0.3, 0.002)])
def test_the_break_even_is_the_first_call_count_at_which_the_slower_starter_is_ahead(
        late_first: float, late_steady: float, early_first: float, early_steady: float) -> None:
    late, early = Contender("late", late_first, {0: late_steady}), Contender("early", early_first, {0: early_steady})
    calls = break_even_calls(late, early)
    assert _total(late, calls) < _total(early, calls)
    assert _total(late, calls - 1) >= _total(early, calls - 1)


def _frame(contenders: dict[str, tuple[float, list[float]]]) -> pd.DataFrame:
    """Throughput rows of torch's implementations in one case: label -> (first call, each process's median)."""
    case = dict(machine="m", workload="w", device="cpu", task="imdb", cell="lstm", dtype="float32", batch_size=32,
                seq_len=100, hidden_size=128, num_layers=1, plugin="torch", mode="throughput", status="ok")
    return pd.DataFrame([case | {"backend": label, "train_first_step_s": first, "train_process_s": steady,
                                 "infer_first_step_s": None, "infer_process_s": None}
                         for label, (first, medians) in contenders.items() for steady in medians])


def test_each_implementation_is_set_against_the_default_with_the_answer_its_processes_support() -> None:
    rows = list(section_rows(_frame({
        "torch": (0.05, [0.010, 0.0102, 0.0099]),
        "torch[compiled]": (5.0, [0.005, 0.0051, 0.0049]),  # starts slower, runs faster
        "torch[loop]": (0.04, [0.020, 0.021, 0.019]),  # starts quicker, runs slower
        "torch[hoisted]": (0.04, [0.002, 0.0021, 0.0019]),  # both quicker
        "torch[slow]": (1.0, [0.030, 0.031, 0.029]),  # both slower
        "torch[two]": (1.0, [0.002, 0.0021]),  # two processes: no test
    })))
    answers = {row[5]: row[-1] for row in rows}
    assert answers == {"torch[compiled]": "pays off after 991 calls", "torch[loop]": "torch pays off after 3 calls",
                       "torch[hoisted]": "ahead from the first call",
                       "torch[slow]": "never: starts slower and runs slower",
                       "torch[two]": "not resolved: steady calls too few processes"}
    assert {row[4] for row in rows} == {"training step"}  # inference was not measured
    assert rows[0][:4] == ("imdb", "lstm", "B32 T100 H128 L1 float32", "torch")
    assert {row[8] for row in rows} == {"torch: 50 ms, 10 ms"} and answers and rows[0][6:8] == ("5 s", "5 ms")


def test_without_a_default_the_quickest_starter_is_the_reference_and_one_implementation_has_no_row() -> None:
    rows = list(section_rows(_frame({"torch[compiled]": (5.0, [0.005] * 3), "torch[loop]": (0.04, [0.02] * 3)})))
    assert [(row[5], row[8].split(":")[0]) for row in rows] == [("torch[compiled]", "torch[loop]")]
    assert not list(section_rows(_frame({"torch": (0.05, [0.01] * 3)})))


def test_a_served_request_breaks_even_from_the_latency_records_first_call_and_median_request() -> None:
    case = dict(machine="m", workload="w", device="cpu", task="forecasting", cell="gru", dtype="float32",
                batch_size=1, seq_len=96, hidden_size=64, num_layers=1, plugin="jax", mode="latency", status="ok")
    measured = (("jax", 0.5, [2e-3, 2.1e-3, 1.9e-3]), ("jax[unroll]", 2.0, [1e-3, 1.1e-3, 0.9e-3]))
    rows = [case | {"backend": label, "whole_first_call_s": first, "whole_p50_s": p50}
            for label, first, p50s in measured for p50 in p50s]
    [row] = section_rows(pd.DataFrame(rows))
    assert (row[4], row[5], row[-1]) == ("request (batch 1)", "jax[unroll]", "pays off after 1,501 calls")


def _two_implementations(folder: Path) -> Path:
    """compare-rounds (5 processes a side), numpy's records as torch's "loop" implementation beside the default."""
    golden, writer = GOLDEN / "compare-rounds", RecordWriter(folder)
    for line in (golden / RECORDS_FILE).read_text().splitlines():
        record = migrate(json.loads(line))
        if record["backend"] == "numpy":
            record |= {"backend": "torch", "case_id": record["case_id"] + "/loop",
                       "implementation": {"name": "loop", "default": False}}
        else:
            record |= {"implementation": {"name": "fused", "default": True}}
        writer.append(record)
    for name in (RUN_FILE, ENVIRONMENT_FILE):
        write_json_file(folder / name, json.loads((golden / name).read_text()))
    return folder


def test_a_run_of_two_implementations_of_a_backend_gets_the_section_in_markdown_and_html(tmp_path: Path) -> None:
    data = load_report_data(_two_implementations(tmp_path / "run"))
    [section] = [s for s in data.sections if s.title == TITLE]
    assert {(row[5], row[4]) for row in section.rows} == {("torch[loop]", "training step"),
                                                          ("torch[loop]", "inference")}
    assert f"## {TITLE}" in render_markdown(data) and TITLE in render_html(data)
    assert not [s for s in load_report_data(GOLDEN / "report-run").sections if s.title == TITLE]  # defaults only
