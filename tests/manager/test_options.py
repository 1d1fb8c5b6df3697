"""The matrix from options: seeds as a sweep, and the per-case timeout that follows from the training budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rnnbench.errors import UsageError
from rnnbench.manager.options import DEFAULT_TIMEOUT_S, RunOptions, case_timeout_s, expand
from rnnbench.manager.runner import plan, run
from rnnbench.plugins.registry import Registry
from rnnbench.report.model import task_info
from rnnbench.report.tables import task_table
from rnnbench.results.frame import load_results
from rnnbench.results.store import read_records


def _cases(options: RunOptions) -> list:
    return expand(options, Registry(), ["numpy"], {"numpy": ["cpu"]})


def test_seeds_are_a_sweep_each_seed_its_own_case() -> None:
    cases = _cases(RunOptions(backends=("numpy",), tasks=("airline",), cells=("rnn",), modes=("accuracy",),
                              seeds=(0, 7)))
    assert [c.seed for c in cases] == [0, 7]
    assert len({c.case_id for c in cases}) == 2
    assert RunOptions().with_config({"seed": 3}).seeds == (3,)  # a TOML `seed = 3`, and run.json of older runs
    assert RunOptions().with_config({"seed": [1, 2]}).seeds == (1, 2)


@pytest.mark.parametrize("seeds", [(1, 1), (-1,), (), ("1",), (True,)])
def test_bad_seeds_are_refused_in_one_line(seeds: tuple) -> None:
    with pytest.raises(UsageError, match=r"^seed=.* (is not valid|repeats a value)\. Accepted: "):
        RunOptions(seeds=seeds)


def test_the_timeout_follows_from_the_longest_training_budget_unless_given() -> None:
    registry = Registry()
    full = RunOptions(backends=("numpy",), tasks=("imdb",), cells=("lstm",), profile="full")
    quick = RunOptions(backends=("numpy",), tasks=("imdb",), cells=("lstm",))
    budget = registry.task("imdb").with_options(profile="full").budget().max_seconds
    assert case_timeout_s(full, registry, _cases(full)) == 1.5 * budget + 300  # accuracy trains up to the budget
    assert case_timeout_s(quick, registry, _cases(quick)) == DEFAULT_TIMEOUT_S  # steps only, no time budget
    no_accuracy = RunOptions(backends=("numpy",), tasks=("imdb",), profile="full", modes=("throughput",))
    assert case_timeout_s(no_accuracy, registry, _cases(no_accuracy)) == DEFAULT_TIMEOUT_S
    given = RunOptions(profile="full", timeout_s=42.0)
    assert case_timeout_s(given, registry, _cases(full)) == 42.0


def test_several_seeds_are_one_row_with_the_median_range_and_count(tmp_path: Path) -> None:
    options = RunOptions(backends=("numpy",), tasks=("airline",), cells=("rnn",), modes=("accuracy",),
                         profile="smoke", threads=1, check=False, seeds=(0, 1, 2))
    frame = load_results(run(options, tmp_path, quiet=True).run_dir)
    [row] = task_table(frame, task_info(frame, "airline")).itertuples()
    assert (row.seeds, row.accuracy_runs) == (3, 3)
    assert frame.metric_test_rmse.nunique() == 3  # three seeds, three different trainings
    assert row.metric == pytest.approx(frame.metric_test_rmse.median())


def test_stop_at_target_ends_training_at_the_first_evaluation_that_meets_it(tmp_path: Path) -> None:
    options = RunOptions(backends=("numpy",), tasks=("airline",), cells=("lstm",), profile="full", threads=1,
                         check=False, stop_at_target=True)
    assert {(c.mode, c.stop_at_target) for c in _cases(options)} == {
        ("throughput", False), ("memory", False), ("accuracy", True)}  # only training has a target to stop at
    accuracy = dataclasses.replace(options, modes=("accuracy",))
    frame = load_results(run(accuracy, tmp_path, quiet=True).run_dir)
    [row] = frame.itertuples()
    budget = Registry().task("airline").with_options(profile="full").budget()
    record = row.record["accuracy"]
    assert record["status"] == "target_reached" and "to-target" in row.case_id
    assert row.train_steps == record["time_to_target"]["step"] < budget.max_steps
    assert RunOptions().with_config({"stop-at-target": True}).stop_at_target
    with pytest.raises(UsageError, match=r"^stop_at_target='yes' is not valid\. Accepted: true or false$"):
        RunOptions(stop_at_target="yes")  # type: ignore[arg-type]


@pytest.mark.slow
def test_mixed_precision_runs_where_a_backend_computes_it_and_is_skipped_with_why_elsewhere(tmp_path: Path) -> None:
    small = dict(tasks=("airline",), cells=("gru",), modes=("throughput",), profile="smoke", threads=1,
                 dtype="mixed_bfloat16")
    cases, skipped = plan(RunOptions(backends=("all",), **small), Registry())  # type: ignore[arg-type]
    assert "numpy" not in {c.backend for c in cases}
    assert skipped["numpy"].message("numpy") == ("Backend 'numpy' is not available: it does not compute "
                                                 "mixed_bfloat16 (only float32, float64)")
    with pytest.raises(UsageError, match=r"^Backend 'numpy' does not compute mixed_bfloat16\. Accepted: "):
        run(RunOptions(backends=("numpy", "torch"), **small), tmp_path, quiet=True)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    if not Registry().backend("torch").available().ok:
        pytest.skip("torch is not installed")
    report = run(RunOptions(backends=("torch",), **small), tmp_path, quiet=True)  # type: ignore[arg-type]
    [record] = read_records(report.run_dir)
    assert record["status"] == "ok" and record["config"]["dtype"] == "mixed_bfloat16"
    assert record["spec"]["autocast"] == "bfloat16" and record["spec"]["dtype"] == "float32"
    assert "mixed_bfloat16" in record["runtime"]["kernel_path"]
    assert record["conformance"]["dtype"] == "mixed_bfloat16" and record["conformance"]["ok"] is True
    assert "peak_fraction" not in record["throughput"]["train"]  # the measured peak is a float32 matmul's
