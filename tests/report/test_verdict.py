"""The verdict every report opens with, from real result files: who wins, by how much, how sure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from paths import GOLDEN

from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import run
from rnnbench.report.model import load_report_data
from rnnbench.report.tables import task_table
from rnnbench.report.text import render_markdown
from rnnbench.report.verdict import verdict

RUN, ROUNDS, SWEEP, FAILED = (GOLDEN / n for n in ("report-run", "compare-rounds", "report-sweep", "report-failed"))


def test_markdown_starts_with_the_verdict_naming_each_fastest_training_backend():
    data = load_report_data(RUN)  # numpy and torch, airline rnn/lstm/gru, one round
    markdown = render_markdown(data)
    assert markdown.startswith("## Verdict\n")
    table = task_table(data.frame, data.tasks[0])
    for cell, group in table.groupby("cell"):
        fastest = group.sort_values("train_sps", ascending=False)
        first, second = fastest.iloc[0], fastest.iloc[1]
        margin = first.train_sps / second.train_sps
        assert f"| airline | {cell} | {first.backend}, {margin:.2f}x over {second.backend} (" in markdown
    assert markdown.index("## Verdict") < markdown.index("## airline")


def test_the_geomean_is_over_relative_speeds_and_the_winner_is_the_fastest():
    found = verdict(load_report_data(RUN))
    training = {s.backend: s for s in found.scores if s.measure == "training"}
    [heat] = [h for h in found.heatmaps if h.measure == "training"]
    for backend, score in training.items():
        column = [row[heat.backends.index(backend)] for row in heat.values]
        assert score.geomean == np.exp(np.mean(np.log(column)))
        assert score.low <= score.geomean <= score.high and score.cases == 3
    assert all(max(v for v in row if v is not None) == 1.0 for row in heat.values)
    assert sum(s.wins for s in training.values()) == 3


def test_rounds_give_a_significance_for_each_win():
    found = verdict(load_report_data(ROUNDS))  # five rounds of numpy and torch LSTM
    [training] = [w for w in found.wins if w.measure == "training"]
    assert training.runner_up is not None and training.sureness in ("significant", "not significant")
    assert not any("One process per case" in c for c in found.caveats)
    one = verdict(load_report_data(RUN))
    assert any("One process per case" in c for c in one.caveats)
    assert {w.sureness for w in one.wins if w.measure in ("training", "inference") and w.runner_up} == {
        "one process: not tested"}


def test_a_sweep_is_one_case_per_point_and_failures_are_caveats():
    found = verdict(load_report_data(SWEEP))
    cases = {w.case for w in found.wins if w.measure == "training"}
    assert cases == {"lstm B32 T12 H8 L1", "lstm B32 T12 H16 L1", "lstm B32 T12 H32 L1"} or len(cases) == 3
    failed = verdict(load_report_data(FAILED))
    assert any("did not finish" in c and "2 failed" in c for c in failed.caveats)
    assert {w.sureness for w in failed.wins if w.measure == "training"} == {"one backend"}


def test_the_html_report_opens_with_the_verdict():
    from rnnbench.report.html import html_report

    page = html_report([RUN])
    assert page.index('id="verdict"') < page.index('id="runs"') < page.index('class="task"')
    assert "Relative training speed" in page and "heat-0" in page


@pytest.mark.slow
def test_a_full_profile_run_names_the_first_to_the_target_and_how_many_seeds_it_rests_on(tmp_path, install_fake_plugin):
    install_fake_plugin("two", "two_ways")  # the reference under another name: a second real backend
    options = RunOptions(backends=("numpy", "two_ways"), tasks=("airline",), cells=("lstm",), modes=("accuracy",),
                         profile="full", threads=1, check=False, stop_at_target=True)
    one = run(options, tmp_path / "one", quiet=True).run_dir
    found = verdict(load_report_data(one))
    [win] = [w for w in found.wins if w.measure == "time to target"]
    table = task_table(load_report_data(one).frame, load_report_data(one).tasks[0]).set_index("backend")
    first, second = table.time_to_target_s.sort_values().index
    assert (win.winner, win.runner_up, win.sureness) == (first, second, "one seed")
    assert win.margin == table.at[second, "time_to_target_s"] / table.at[first, "time_to_target_s"]
    markdown = render_markdown(load_report_data(one))
    shown = f"| airline | lstm | {first}, {win.margin:.2f}x over {second} (one seed) |".replace("_", "\\_")
    assert shown in markdown
    assert "first to target" in markdown.split("## airline")[0] and "rests on one seed" in markdown

    seeds = run(dataclasses.replace(options, seeds=(0, 1)), tmp_path / "seeds", quiet=True).run_dir
    [win] = [w for w in verdict(load_report_data(seeds)).wins if w.measure == "time to target"]
    assert win.sureness in ("seed ranges apart", "seed ranges overlap")
