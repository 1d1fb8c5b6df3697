"""The console summary a run ends with, built from real result files."""

from __future__ import annotations

from paths import GOLDEN
from rich.console import Console

from rnnbench.report.summary import summary_tables
from rnnbench.results.frame import load_results


def render(run: str) -> str:
    console = Console(record=True, width=200)
    for table in summary_tables(load_results(GOLDEN / run), {"airline": "test_rmse"}):
        console.print(table)
    return console.export_text()


def test_failed_modes_are_named_with_their_status() -> None:
    text = render("report-failed")  # torch's throughput and memory cases failed; numpy's finished
    torch_row = next(line for line in text.splitlines() if "torch" in line)
    numpy_row = next(line for line in text.splitlines() if "numpy" in line)
    assert "throughput: failed" in torch_row and "memory: failed" in torch_row
    assert "failed" not in numpy_row and "ok" in numpy_row
