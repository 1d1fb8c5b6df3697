"""The equal-step check: per-step loss curves of a real run, against the NumPy reference's."""

from __future__ import annotations

import math

import pytest

from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import run
from rnnbench.plugins.registry import Registry
from rnnbench.report.model import load_report_data
from rnnbench.report.text import render_markdown
from rnnbench.results.equivalence import EQUIVALENCE_TOLERANCE, max_rel_gap
from rnnbench.results.frame import load_results


def test_the_gap_is_the_largest_relative_difference_at_the_steps_both_curves_have():
    assert max_rel_gap([1.0, 2.2, 3.0], [1.0, 2.0]) == pytest.approx(0.1)
    assert max_rel_gap([None, 1.0], [2.0, 1.0]) == 0.0  # a step one side could not report is left out
    assert max_rel_gap([], [1.0]) is None
    assert max_rel_gap([1.0, math.nan], [1.0, 1.0]) == math.inf  # went non-finite where the reference did not


@pytest.mark.slow
def test_every_framework_learns_like_the_reference_and_a_backend_that_trains_differently_is_flagged(
        install_fake_plugin, tmp_path):
    install_fake_plugin("eq", "learns_differently")
    registry = Registry()
    backends = ["numpy", "learns_differently", *(b for b in ("torch", "tensorflow", "jax")
                                                 if registry.backend(b).available().ok)]
    options = RunOptions(backends=tuple(backends), tasks=("forecasting",), cells=("lstm",), modes=("accuracy",),
                         profile="smoke", threads=1, check=False)
    report = run(options, tmp_path, registry=registry, quiet=True)
    frame = load_results(report.run_dir).set_index("backend")

    assert set(frame.train_steps) == {3}  # the same steps for every backend, whatever its speed
    assert all(len(losses) == 3 for losses in frame.step_losses)
    assert math.isnan(frame.at["numpy", "equivalence_max_rel_gap"])  # the reference itself
    for backend in backends[2:]:
        assert frame.at[backend, "equivalence_max_rel_gap"] <= EQUIVALENCE_TOLERANCE, backend
        assert frame.at[backend, "equivalence_ok"] is True
    assert frame.at["learns_differently", "equivalence_max_rel_gap"] > EQUIVALENCE_TOLERANCE
    assert frame.at["learns_differently", "equivalence_ok"] is False

    markdown = render_markdown(load_report_data(report.run_dir))
    verdict = markdown.split("## forecasting")[0]
    assert "Trains differently from numpy: learns\\_differently forecasting lstm" in verdict
    assert "(trains differently)" in markdown.split("## forecasting")[1]
