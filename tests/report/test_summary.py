"""The console summary a run ends with, built from real result files."""

from __future__ import annotations

from paths import GOLDEN
from rich.console import Console

from rnnbench.report.summary import summary_tables
from rnnbench.results.frame import load_results


def render(run: str) -> str:
    console = Console(record=True, width=400)  # no wrapped cells
    for table in summary_tables(load_results(GOLDEN / run)):
        console.print(table)
    return console.export_text()


def test_failed_modes_are_named_with_their_status() -> None:
    text = render("report-failed")  # torch's throughput and memory cases failed; numpy's finished
    torch_row = next(line for line in text.splitlines() if "torch" in line)
    numpy_row = next(line for line in text.splitlines() if "numpy" in line)
    assert "throughput: failed" in torch_row and "memory: failed" in torch_row
    assert "failed" not in numpy_row and "ok" in numpy_row


def test_a_sweep_keeps_one_row_per_point() -> None:
    text = render("report-sweep")  # numpy and torch LSTM at hidden sizes 8, 16 and 32
    rows = [line for line in text.splitlines() if line.lstrip("│ ").startswith(("numpy", "torch"))]
    assert len(rows) == 6
    for backend in ("numpy", "torch"):
        sizes = {h for h in ("H8 ", "H16 ", "H32 ") for row in rows if row.lstrip("│ ").startswith(backend)
                 and h in row}
        assert sizes == {"H8 ", "H16 ", "H32 "}, backend


def test_rounds_are_one_row_with_the_round_medians_as_values() -> None:
    import numpy as np

    from rnnbench.report.model import TaskInfo
    from rnnbench.report.tables import task_table

    frame = load_results(GOLDEN / "compare-rounds")  # numpy: 5 rounds of one case
    text = render("compare-rounds")
    assert sum(line.lstrip("│ ").startswith("numpy") for line in text.splitlines()) == 1
    numpy = frame[(frame.backend == "numpy") & (frame["mode"] == "throughput")]
    medians = [float(np.median(calls)) for calls in numpy.train_samples_s]
    row = task_table(frame, TaskInfo("airline", "", None)).set_index("backend").loc["numpy"]
    assert row.train_step_s == np.median(medians)
    assert row.train_sps == float(numpy.batch_size.iloc[0]) / np.median(medians)
