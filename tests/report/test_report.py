"""`rnnbench report` on golden result files: tables, best values, failures, charts, environment, escaping."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from paths import GOLDEN

from rnnbench.cli import main
from rnnbench.report.html import html_report
from rnnbench.report.model import load_report_data
from rnnbench.report.text import render_csv, render_markdown
from rnnbench.results.store import read_records

RUN, SWEEP, FAILED, HOSTILE = (GOLDEN / n for n in ("report-run", "report-sweep", "report-failed", "report-hostile"))
BASE = GOLDEN / "compare-base"
HOSTILE_BACKEND = "<script>alert(1)</script>"


class Page(HTMLParser):
    """Tables (header texts; rows of (text, classes) cells), figures, every attribute, text and style."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.figures: list[dict] = []
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.text: list[str] = []
        self.styles: list[str] = []
        self._stack: list[str] = []
        self._cell: list | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self._stack.append(tag)
        attrs = dict(attrs)
        self.attributes += [(tag, k, v or "") for k, v in attrs.items()]
        if tag == "table":
            self.tables.append({"headers": [], "rows": []})
        elif tag == "tr" and "thead" not in self._stack:
            self.tables[-1]["rows"].append({"class": attrs.get("class") or "", "cells": []})
        elif tag in ("td", "th"):
            self._cell = ["", (attrs.get("class") or "").split()]
        elif tag == "figure":
            self.figures.append({"caption": "", "tags": []})
        elif "figure" in self._stack:
            self.figures[-1]["tags"].append((tag, attrs))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text, classes = self._cell[0].strip(), self._cell[1]
            if "thead" in self._stack:
                self.tables[-1]["headers"].append(text)
            else:
                self.tables[-1]["rows"][-1]["cells"].append((text, classes))
            self._cell = None
        while self._stack and self._stack.pop() != tag:
            pass

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell[0] += data
        if self._stack and self._stack[-1] == "style":
            self.styles.append(data)
        if self._stack and self._stack[-1] == "figcaption":
            self.figures[-1]["caption"] += data

    def table_with(self, header: str) -> dict:
        return next(t for t in self.tables if header in t["headers"])

    def rows(self, table: dict) -> list[dict[str, tuple[str, list[str]]]]:
        return [dict(zip(table["headers"], row["cells"], strict=True)) | {"_class": row["class"]}
                for row in table["rows"]]

    def figure(self, caption: str) -> dict:
        return next(f for f in self.figures if f["caption"] == caption)


@pytest.fixture(scope="session")
def page() -> Page:
    return Page(html_report(RUN))


@pytest.fixture(scope="session")
def records() -> dict[tuple[str, str, str], dict]:
    return {(r["backend"], r["cell"], r["mode"]): r for r in read_records(RUN)}


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _row(page: Page, backend: str, cell: str) -> dict:
    rows = page.rows(page.table_with("cell"))
    return next(r for r in rows if r["backend"][0] == backend and r["cell"][0] == cell)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_table_row_shows_the_records_numbers(page, records, backend, cell):
    row = _row(page, backend, cell)
    speed, memory, accuracy = (records[(backend, cell, m)] for m in ("throughput", "memory", "accuracy"))
    for kind, label in (("train", "training"), ("infer", "inference")):
        block, batch = speed["throughput"][kind], speed["batch"]["batch_size"]
        s = block["summary"]
        expected = f"{_rate(batch / s['median'])} [{_rate(batch / s['ci_high'])}, {_rate(batch / s['ci_low'])}]"
        assert row[f"{label} samples/s [95% CI]"][0] == expected + (" (unstable)" if block["unstable"] else "")
    assert row["peak host MB above baseline"][0] == f"{memory['memory']['peak_above_baseline_bytes'] / 2**20:,.1f}"
    assert row["test_rmse"][0] == f"{accuracy['accuracy']['final_metrics']['test_rmse']:.4g}"
    target = accuracy["accuracy"]["target"]
    assert row["time to target"][0] == f"not reached (test_rmse <= {target['value']:.4g})"
    assert row["kernel path"][0] == speed["runtime"]["kernel_path"]
    assert row["shape"][0] == "B8 T12 H8 L1"
    assert (row["conformance"][0], row["status"][0]) == ("not checked", "ok")
    assert "device peak MB" not in row  # a CPU run has no device memory: no column of dashes


def test_a_measurement_no_row_has_is_left_out_rather_than_a_column_of_dashes(tmp_path):
    run = tmp_path / "accuracy-only"
    shutil.copytree(RUN, run)
    lines = (run / "records.jsonl").read_text().splitlines()
    (run / "records.jsonl").write_text("".join(f"{line}\n" for line in lines if json.loads(line)["mode"] == "accuracy"))
    markdown = render_markdown(load_report_data(run))
    header = next(line for line in markdown.splitlines() if line.startswith("| backend"))
    assert "time to target" in header and "test\\_rmse" in header and "steps trained" in header
    for measured in ("samples/s", "vs fastest", "first training step", "peak host MB", "device peak MB"):
        assert measured not in header, measured
    assert "samples/s" in render_markdown(load_report_data(RUN))  # the full run keeps them


def test_best_value_and_ratio_to_the_fastest_per_cell(page, records):
    for cell in ("rnn", "lstm", "gru"):
        speed = {b: records[(b, cell, "throughput")] for b in ("numpy", "torch")}
        sps = {b: r["batch"]["batch_size"] / r["throughput"]["train"]["summary"]["median"] for b, r in speed.items()}
        fastest = max(sps, key=sps.get)
        for backend in sps:
            cell_text, classes = _row(page, backend, cell)["training samples/s [95% CI]"]
            assert ("best" in classes) == (backend == fastest)
            ratio = _row(page, backend, cell)["training vs fastest"][0]
            assert ratio == f"{sps[backend] / sps[fastest]:.2f}x"


def test_best_metric_follows_the_targets_direction():
    page = Page(html_report(RUN))
    for cell in ("rnn", "lstm", "gru"):
        rows = [r for r in page.rows(page.table_with("cell")) if r["cell"][0] == cell]
        values = [float(r["test_rmse"][0]) for r in rows]
        marked = ["best" in r["test_rmse"][1] for r in rows]
        assert marked == [v == min(values) for v in values]  # test_rmse: lower is better


def test_failed_case_shows_its_status_and_error():
    page = Page(html_report(FAILED))
    torch = _row(page, "torch", "gru")
    assert torch["status"][0] == ("throughput: failed: ImportError: libtorch_cpu.so: failed to map segment from "
                                  "shared object; memory: failed: ImportError: libtorch_cpu.so: failed to map "
                                  "segment from shared object")
    assert "failed" in torch["_class"].split() and torch["training samples/s [95% CI]"][0] == "-"
    assert _row(page, "numpy", "gru")["status"][0] == "ok"


TRAINING_BARS = "Training throughput: median over the processes, its 95% interval, each process a dot"


def _count(figure: dict, tag: str) -> int:
    return sum(1 for t, _ in figure["tags"] if t == tag)


def test_charts_throughput_memory_and_learning_curves(page):
    captions = [f["caption"] for f in page.figures]
    curves = [f"{cell} B8 T12 H8 L1: test_rmse against {x}" for cell in ("gru", "lstm", "rnn")
              for x in ("wall time (s)", "training step")]
    assert captions == [TRAINING_BARS, TRAINING_BARS.replace("Training", "Inference"),
                        "Peak host memory above baseline", *curves]
    bars = page.figure(TRAINING_BARS)
    assert (_count(bars, "rect"), _count(bars, "line") >= 6 * 3, _count(bars, "title")) == (6, True, 1 + 6 + 6)
    assert _count(bars, "circle") == 0  # one process a case: no dots
    curve = page.figure("lstm B8 T12 H8 L1: test_rmse against training step")
    assert _count(curve, "polyline") == 2  # one line per backend
    assert all(_count(f, "svg") == 1 for f in page.figures)


def test_each_process_is_a_dot_on_its_bar():
    bars = Page(html_report([GOLDEN / "compare-rounds"])).figure(TRAINING_BARS)  # five rounds, two backends
    assert (_count(bars, "rect"), _count(bars, "circle")) == (2, 10)


def test_step_time_chart_appears_only_for_a_sweep(page):
    sweep = Page(html_report(SWEEP))
    chart = sweep.figure("Training step time against hidden size")
    assert _count(chart, "polyline") == 2 and _count(chart, "circle") == 6
    ticks = [text for text in sweep.text if text in ("8", "16", "32")]
    assert {"8", "16", "32"} <= set(ticks)
    assert not any("step time against" in f["caption"] for f in page.figures)


def test_environments_of_several_runs_side_by_side():
    page = Page(html_report([RUN, BASE]))
    table = page.table_with("fact")
    ids = [next(read_records(d))["run_id"] for d in (RUN, BASE)]
    assert table["headers"] == ["fact", *(f"{i} / vm (AMD EPYC, no GPU)" for i in ids)]
    facts = {row["cells"][0][0]: [c[0] for c in row["cells"][1:]] for row in table["rows"]}
    assert facts["cpu_model"] == ["AMD EPYC", "AMD EPYC"] and facts["cpu_count"] == ["2", "2"]
    assert len(page.table_with("run")["rows"]) == 2


@pytest.mark.parametrize("golden", [RUN, SWEEP, FAILED, HOSTILE])
def test_html_fetches_nothing_from_the_network(golden):
    html = html_report(golden)
    page = Page(html)
    assert html.startswith("<!DOCTYPE html>") and '<meta name="viewport"' in html
    for tag, name, value in page.attributes:
        if name == "href":
            assert value.startswith("#"), (tag, value)  # in-page links only
        assert name not in ("src", "srcset", "xlink:href", "action", "poster"), (tag, name)
        if name != "data-sort":  # the sort key repeats the cell's text
            assert "://" not in value, (tag, name, value)
    assert not any(t in html for t in ("<link", "<iframe", "<object", "<embed", "<img"))
    assert not any(bad in "".join(page.styles) for bad in ("url(", "@import", "://"))


def test_hostile_strings_show_as_text():
    html = html_report(HOSTILE)
    page = Page(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert html.count("<script") == 1 and html.index("<script") > html.index("</main>")  # only the sort script
    assert "&lt;img src=x onerror=alert(2)&gt;" in html and "<img" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>" not in html
    assert 'vm&#34;&gt;&lt;script&gt;alert(3)&lt;/script&gt;' in html
    assert HOSTILE_BACKEND in [r["backend"][0] for r in page.rows(page.table_with("cell"))]
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in html  # the environment
    legend_and_tooltips = [t for t in page.text if HOSTILE_BACKEND in t]
    assert len(legend_and_tooltips) >= 4
    assert "see https://example.invalid/help" in "".join(page.text)  # a URL in the data stays text


def test_hostile_strings_in_markdown_and_csv():
    markdown = render_markdown(load_report_data(HOSTILE))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown and "<script" not in markdown and "<img" not in markdown
    assert '| numpy "quoted" &amp; &lt;b&gt;bold&lt;/b&gt; kernel |' in markdown  # "&" first: "&lt;" stays visible
    frame = pd.read_csv(io.StringIO(render_csv(load_report_data(HOSTILE))))
    assert HOSTILE_BACKEND in set(frame.backend)


def _hostile_copy(tmp_path: Path, backend: str) -> Path:
    """report-hostile with its numpy backend renamed ``backend``."""
    copy = tmp_path / "hostile"
    shutil.copytree(HOSTILE, copy)
    records = (copy / "records.jsonl").read_text()
    (copy / "records.jsonl").write_text(records.replace(json.dumps(HOSTILE_BACKEND)[1:-1], json.dumps(backend)[1:-1]))
    return copy


def test_markdown_leaves_no_live_markup(tmp_path):
    backend = "[x](javascript:alert(5)) ![i](y) *a* _b_ `c` ~~d~~ &amp; a|b \\"
    markdown = render_markdown(load_report_data(_hostile_copy(tmp_path, backend)))
    escaped = "\\[x\\](javascript:alert(5)) !\\[i\\](y) \\*a\\* \\_b\\_"
    lines = [line for line in markdown.splitlines() if "javascript" in line]
    assert lines and all(escaped in line for line in lines)  # the verdict's lines too
    row = next(line for line in markdown.splitlines() if "javascript" in line and line.endswith("| ok |"))
    assert row.startswith("| \\[x\\](javascript:alert(5)) !\\[i\\](y) \\*a\\* \\_b\\_ \\`c\\` \\~\\~d\\~\\~ &amp;amp; "
                          "a\\|b \\\\ | gru |")


def test_markdown_has_a_table_per_task_with_best_in_bold(records):
    markdown = render_markdown(load_report_data(RUN))
    lines = markdown.splitlines()
    start = lines.index("## airline")
    blank, header, rule, *rows = lines[start + 1:start + 10]
    assert blank == "" and len(lines) == start + 10  # six rows, nothing else
    # Brackets are escaped ("\\[") so that no cell can form a link; GitHub shows them as plain brackets.
    assert header.startswith("| backend | cell | shape | training samples/s \\[95% CI\\] |") and "test\\_rmse" in header
    assert rule.count("|") == header.count("|") and len(rows) == 6
    speed = records[("numpy", "rnn", "throughput")]
    s = speed["throughput"]["infer"]["summary"]
    rate = f"{_rate(8 / s['median'])} \\[{_rate(8 / s['ci_high'])}, {_rate(8 / s['ci_low'])}\\]"
    numpy_rnn = next(r for r in rows if r.startswith("| numpy | rnn |"))
    fastest = 8 / s["median"] >= 8 / records[("torch", "rnn", "throughput")]["throughput"]["infer"]["summary"]["median"]
    assert (f"**{rate}" in numpy_rnn) == fastest and rate in numpy_rnn


def test_csv_keeps_numbers_as_numbers(records):
    frame = pd.read_csv(io.StringIO(render_csv(load_report_data([RUN, FAILED]))))
    assert len(frame) == 6 + 2 and set(frame.task) == {"airline"}
    row = frame[(frame.backend == "torch") & (frame.cell == "lstm")].iloc[0]
    speed = records[("torch", "lstm", "throughput")]["throughput"]["train"]["summary"]
    assert row.train_sps == pytest.approx(8 / speed["median"])
    assert row.train_sps_low == pytest.approx(8 / speed["ci_high"])
    assert row.metric == pytest.approx(records[("torch", "lstm", "accuracy")]["accuracy"]["final_metrics"]["test_rmse"])
    assert (row.batch_size, row.hidden_size, row.metric_name) == (8, 8, "test_rmse")
    assert frame.groupby(["run_id", "cell"]).train_ratio.max().dropna().eq(1.0).all()
    failed = frame[frame.status != "ok"].iloc[0]
    assert failed.backend == "torch" and failed.status.startswith("throughput: failed: ImportError")


def test_cli_writes_html_inside_a_single_run_folder(tmp_path, cli):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    code, out, _ = cli("report", str(run))
    assert code == 0 and out.startswith(f"wrote {run / 'report.html'}")
    assert Page((run / "report.html").read_text()).table_with("backend")


def test_cli_writes_html_of_several_runs_in_the_current_folder(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, _ = cli("report", str(RUN), str(SWEEP))
    assert code == 0 and len(Page((tmp_path / "report.html").read_text()).table_with("run")["rows"]) == 2


def test_cli_markdown_and_csv_to_stdout_or_file(tmp_path, cli):
    code, out, _ = cli("report", "--format", "markdown", str(RUN))
    assert code == 0 and out == render_markdown(load_report_data(RUN))
    code, out, _ = cli("report", "--format", "csv", str(RUN), "-o", str(tmp_path / "r.csv"))
    assert code == 0 and (tmp_path / "r.csv").read_text() == render_csv(load_report_data(RUN))


def test_cli_rejects_a_folder_without_results(tmp_path, cli):
    code, _, err = cli("report", str(tmp_path))
    assert code == 2 and err.strip() == f"rnnbench: error: no result records in {tmp_path}. " \
                                        "Accepted: run folders of rnnbench run"


def test_report_imports_no_framework(tmp_path):
    code = ("import sys; from rnnbench.cli import main; main(['report', sys.argv[1], '-o', sys.argv[2]]); "
            "print([m for m in ('torch', 'tensorflow', 'keras', 'jax', 'jaxlib') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code, str(RUN), str(tmp_path / "r.html")], capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", ["micro.json", "0001_golden.json"])  # saved with and without per-round samples
def test_a_pytest_benchmark_file_renders_its_throughput(name: str, tmp_path: Path) -> None:
    bench = tmp_path / name
    shutil.copy(GOLDEN / "bench" / name, bench)
    main(["report", str(bench)])
    html = bench.with_suffix(".html").read_text(encoding="utf-8")  # the default output: beside the file
    page = Page(html)
    rows = {r["backend"][0]: r for r in page.rows(page.table_with("training samples/s [95% CI]"))}
    # numpy's medians in the file: train_step 2.036 ms and predict 0.758 ms for a batch of 32
    assert rows["numpy"]["training samples/s [95% CI]"][0].startswith("15,718")
    assert rows["numpy"]["inference samples/s [95% CI]"][0].startswith("42,204")
    assert "nan" not in repr(page.rows(page.table_with("training samples/s [95% CI]")))
    # Saved without samples, a record has no interval: no whisker and no "95% CI nan to nan" anywhere.
    nan = re.compile(r"\bnan\b", re.IGNORECASE)
    assert not [a for a in page.attributes if nan.search(a[2])] and not [t for t in page.text if nan.search(t)]
    whiskers = "".join(re.findall(r'<g class="whisker">(.*?)</g>', html, re.DOTALL))
    assert whiskers.count("<line") == (2 * 2 * 3 if name == "micro.json" else 0)  # 2 charts x 2 bars x 3 lines
