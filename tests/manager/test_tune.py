"""`rnnbench tune` with real worker processes: the search, the side-by-side records, and run --tuned."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from rich.console import Console

from rnnbench.manager.options import RunOptions, expand
from rnnbench.manager.precheck import CHECK_FILE
from rnnbench.manager.tune import ETA, tune
from rnnbench.manager.tuned import TUNED_FILE, load_tuned
from rnnbench.plugins.registry import Registry
from rnnbench.report.text import markdown_report
from rnnbench.results.store import read_records
from rnnbench.worker.parity import usable_cpus

OPTIONS = dict(backends=("two_ways",), tasks=("airline",), cells=("gru",), profile="smoke", check=False)


@pytest.fixture
def tuned_run(install_fake_plugin, tmp_path: Path) -> Path:
    install_fake_plugin("two", "two_ways")
    options = RunOptions(**{**OPTIONS, "check": True})  # type: ignore[arg-type]
    return tune(options, tmp_path, registry=Registry(), console=Console(file=None, quiet=True))


@pytest.mark.slow
def test_the_search_halves_its_candidates_and_measures_the_winner_beside_the_default(tuned_run: Path) -> None:
    [found] = json.loads((tuned_run / TUNED_FILE).read_text())["cases"]
    cores = len(usable_cpus())
    first = len(found["rungs"][0])
    assert first == 2 * 2 * (2 if cores > 1 else 1)  # implementations x denormals x (all cores, one)
    assert [len(rung) for rung in found["rungs"]][1:] in ([], [-(-first // ETA)])
    timed = [c for c in found["rungs"][-1] if c["train_step_s"] is not None]
    fastest = min(timed, key=lambda c: c["train_step_s"])["settings"]
    assert found["best"] == fastest  # the winner is the fastest of the last rung
    assert found["speedup"] > 0 and found["verdict"] in ("faster", "slower", "not significant")

    roles = [r["tuning"]["role"] for r in read_records(tuned_run)]
    assert roles == ["default", "tuned", "tuned", "default"]  # ABBA: a drift in time cancels
    records = {r["tuning"]["role"]: r for r in read_records(tuned_run)}
    assert records["default"]["config"]["implementation"] is None
    assert records["tuned"]["config"]["implementation"] == found["best"]["implementation"]
    assert records["tuned"]["config"]["threads"] == found["best"]["threads"]
    assert records["tuned"]["case_id"] != records["default"]["case_id"]
    verdicts = json.loads((tuned_run / CHECK_FILE).read_text())
    for record in records.values():  # each carries the check of the implementation it ran
        assert record["conformance"] == verdicts[f"two_ways/cpu/{record['implementation']['name']}"]
    markdown = markdown_report(tuned_run)
    assert "two\\_ways\\[tuned: " in markdown  # the tuned contender beside the default, in one table


@pytest.mark.slow
def test_run_tuned_applies_the_settings_found_to_the_matching_cases(tuned_run: Path) -> None:
    [found] = load_tuned(tuned_run)
    options = RunOptions(**{**OPTIONS, "cells": ("gru", "rnn")}, modes=("throughput",),  # type: ignore[arg-type]
                         tuned=str(tuned_run))
    cases = {c.cell: c for c in expand(options, Registry(), ["two_ways"], {"two_ways": ["cpu"]})}
    best = found["best"]
    assert (cases["gru"].implementation, cases["gru"].flush_denormals, cases["gru"].threads) == (
        best["implementation"], best["flush_denormals"], best["threads"])
    assert cases["rnn"].implementation is None  # not tuned: as it was


def test_a_spent_budget_leaves_the_rest_untuned(install_fake_plugin, tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")
    ticks = itertools.count(0.0, 100.0)  # each look at the clock: 100 s later
    run_dir = tune(RunOptions(**{**OPTIONS, "cells": ("gru", "rnn")}), tmp_path,  # type: ignore[arg-type]
                   registry=Registry(), console=Console(file=None, quiet=True), budget_s=150.0,
                   clock=lambda: next(ticks))
    assert len(load_tuned(run_dir)) == 1  # the first case, then the budget was spent
