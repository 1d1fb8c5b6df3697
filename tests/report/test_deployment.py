"""Where to deploy it: the serving answer of a real latency run (tests/golden/report-latency)."""

from __future__ import annotations

import json
import statistics

import pytest
from paths import GOLDEN

from rnnbench.report.deployment import HEADERS, deployment_section, serving_wins
from rnnbench.report.html import html_report
from rnnbench.report.model import load_report_data
from rnnbench.report.tables import task_table
from rnnbench.report.text import render_markdown
from rnnbench.report.verdict import verdict

LATENCY, RUN = GOLDEN / "report-latency", GOLDEN / "report-run"
SURENESS = {"significant", "not significant", "too few processes", "one process: not tested", "one backend"}


def _records() -> list[dict]:
    return [json.loads(line) for line in (LATENCY / "records.jsonl").read_text().splitlines()]


def _per_backend(cell: str, kind: str, figure: str) -> dict[str, float]:
    """Each backend's median over its processes of one figure, read straight from the records."""
    values: dict[str, list[float]] = {}
    for r in _records():
        if r["cell"] == cell and r["status"] == "ok":
            values.setdefault(r["backend"], []).append(r["latency"][kind][figure])
    return {backend: statistics.median(v) for backend, v in values.items()}


def test_each_case_names_the_lowest_median_p99_and_the_fastest_step_with_the_margin_over_the_runner_up():
    frame = load_report_data(LATENCY).frame
    wins = serving_wins(frame)
    assert sorted((w.case.split()[0], w.measure) for w in wins) == [
        ("gru", "stream"), ("gru", "whole"), ("lstm", "stream"), ("lstm", "whole")]
    for win in wins:
        kind, figure = ("whole", "p99_s") if win.measure == "whole" else ("streaming", "p50_s")
        ranked = sorted((v, b) for b, v in _per_backend(win.case.split()[0], kind, figure).items())
        assert (win.winner, win.seconds) == (ranked[0][1], pytest.approx(ranked[0][0]))
        assert (win.runner_up, win.margin) == (ranked[1][1], pytest.approx(ranked[1][0] / ranked[0][0]))
        assert win.sureness in SURENESS and win.case.endswith("B1 T12 H8 L1")


def _lstm_p99s(p99s: dict[str, list[float]]):
    """The golden frame with the lstm processes' whole-sequence p99 set per backend and round."""
    frame = load_report_data(LATENCY).frame.copy()
    for index, row in frame[(frame["mode"] == "latency") & (frame.cell == "lstm")].iterrows():
        frame.loc[index, "whole_p99_s"] = p99s[row.backend][int(row["repeat"])]
    return next(w for w in serving_wins(frame) if w.measure == "whole" and w.case.startswith("lstm"))


def test_a_runner_up_slower_in_every_process_is_a_significant_win_and_a_close_one_is_not():
    win = _lstm_p99s({"onnxruntime": [1e-4, 1.1e-4, 0.9e-4], "openvino": [2e-4, 2.1e-4, 1.9e-4],
                      "numpy": [1.0, 1.0, 1.0]})
    assert (win.winner, win.runner_up, win.sureness) == ("onnxruntime", "openvino", "significant")
    assert win.margin == pytest.approx(2.0)
    win = _lstm_p99s({"onnxruntime": [1e-4, 1.3e-4, 0.8e-4], "openvino": [1.1e-4, 0.9e-4, 1.2e-4],
                      "numpy": [1.0, 1.0, 1.0]})
    assert (win.winner, win.runner_up, win.sureness) == ("onnxruntime", "openvino", "not significant")


def test_the_report_puts_the_deployment_answer_right_after_the_verdict_and_keeps_latency_out_of_task_tables():
    data = load_report_data([RUN, LATENCY])
    section = deployment_section(data.frame)
    assert section is not None and section.headers == HEADERS and len(section.rows) == 2
    assert all(row[-1] == "3" for row in section.rows)  # three backends measured each case
    page = html_report([RUN, LATENCY])
    assert page.index('<section id="verdict">') < page.index('<section id="deployment"') < page.index('id="runs"')
    assert '<a href="#deployment">' in page
    answer = verdict(data).answer
    assert any(line.startswith("To serve airline, lowest p99 per sequence: ") for line in answer)
    markdown = render_markdown(data)
    assert markdown.index("## Where to deploy it") < markdown.index("## Runs")
    airline = next(t for t in data.tasks if t.name == "airline")
    assert 1 not in set(task_table(data.frame, airline).batch_size)  # the B1 latency rows are not throughput rows


def test_a_run_without_latency_has_no_deployment_section():
    data = load_report_data(RUN)
    assert deployment_section(data.frame) is None
    assert 'id="deployment"' not in html_report(RUN)
    assert not [line for line in verdict(data).answer if line.startswith("To serve")]
