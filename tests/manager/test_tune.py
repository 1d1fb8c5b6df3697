"""`rnnbench tune` with real worker processes: the search, the side-by-side records, and run --tuned."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from scipy.stats import ttest_1samp

from rnnbench.errors import UsageError
from rnnbench.host import usable_cpus
from rnnbench.manager.options import RunOptions, expand
from rnnbench.manager.precheck import CHECK_FILE
from rnnbench.manager.process import run_worker, scratch_dir
from rnnbench.manager.tune import (
    BUDGET_SPENT,
    DEFAULT_WON,
    ETA,
    FINAL_PROCESSES,
    NOT_TUNED,
    Tuned,
    _side_by_side,
    alternating,
    candidates,
    tune,
)
from rnnbench.manager.tuned_settings import TUNED_FILE, Settings, load_tuned
from rnnbench.plugins.registry import Registry
from rnnbench.report.model import load_report_data
from rnnbench.report.text import render_markdown
from rnnbench.results.store import RECORDS_FILE, RecordWriter, read_records

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
    assert first == 2 * (2 if cores > 1 else 1)  # implementations x (all cores, one): numpy has no ftz switch
    assert [len(rung) for rung in found["rungs"]][1:] in ([], [-(-first // ETA)])
    timed = [c for c in found["rungs"][-1] if c["step_s"] is not None]
    fastest = min(timed, key=lambda c: c["step_s"])["settings"]
    assert found["measured"] == "training"
    assert found["best"] == fastest  # the winner is the fastest of the last rung
    _run_tuned_applies_a_significant_win_to_the_matching_cases(tuned_run, found)
    if found["outcome"] == DEFAULT_WON:  # "plain" with the default's knobs: the default's own configuration
        assert (found["best"]["implementation"], found["best"]["flush_denormals"]) == ("plain", False)
        assert found["speedup"] == 1.0 and not (tuned_run / RECORDS_FILE).exists()  # nothing measured against itself
        return
    assert found["speedup"] > 0 and found["outcome"] in ("faster", "slower", "not significant")
    roles = [r["tuning"]["role"] for r in read_records(tuned_run)]
    assert roles == [role for role, _ in alternating(FINAL_PROCESSES)]
    records = {r["tuning"]["role"]: r for r in read_records(tuned_run)}
    assert records["default"]["config"]["implementation"] is None
    assert records["tuned"]["config"]["implementation"] == found["best"]["implementation"]
    assert records["tuned"]["config"]["threads"] == found["best"]["threads"]
    assert records["tuned"]["case_id"] != records["default"]["case_id"]
    verdicts = json.loads((tuned_run / CHECK_FILE).read_text())
    for record in records.values():  # each carries the check of the implementation it ran
        assert record["conformance"] == verdicts[f"two_ways/cpu/{record['implementation']['name']}"]
    markdown = render_markdown(load_report_data(tuned_run))
    assert "two\\_ways\\[tuned: " in markdown  # the tuned contender beside the default, in one table


@pytest.mark.slow
@pytest.mark.skipif(len(usable_cpus()) < 2, reason="one core: a single candidate, nothing is searched")
def test_a_backend_that_does_not_train_is_tuned_on_its_inference(install_fake_plugin, tmp_path: Path) -> None:
    install_fake_plugin("serves_only", "serves_only")
    options = RunOptions(**{**OPTIONS, "backends": ("serves_only",)})  # type: ignore[arg-type]
    folder = tune(options, tmp_path, registry=Registry(), console=Console(file=None, quiet=True))
    [found] = json.loads((folder / TUNED_FILE).read_text())["cases"]
    assert found["outcome"] != NOT_TUNED and found["measured"] == "inference"
    assert all(c["step_s"] > 0 and c["error"] is None for rung in found["rungs"] for c in rung)
    if found["outcome"] == DEFAULT_WON:  # the default measured against itself: no records
        assert not (folder / RECORDS_FILE).exists()
        return
    assert all(r["throughput"]["train"] is None for r in read_records(folder))


def test_denormal_flushing_is_searched_only_where_the_backend_has_the_switch() -> None:
    registry = Registry()
    for name, flushes in (("numpy", False), ("torch", True), ("tensorflow", False), ("jax", False)):
        backend = registry.backend(name)
        if not backend.available().ok:
            continue
        [case] = expand(RunOptions(**{**OPTIONS, "backends": (name,)}, modes=("throughput",)),  # type: ignore[arg-type]
                        registry, [name], {name: ["cpu"]})
        passed = {f"{name}/cpu/{i.name}" for i in backend.implementations()}
        found = candidates(registry, case, passed)
        assert {s.flush_denormals for s in found} == ({False, True} if flushes else {False}), name
        assert {s.implementation for s in found} == {i.name for i in backend.implementations() if i.runs_on("cpu")
                                                     and i.trains}  # an export path is not tuned on training
    assert registry.backend("jax").flushes_denormals("gpu:0") and not registry.backend("torch").flushes_denormals(
        "gpu:0")  # XLA:GPU has --xla_gpu_ftz; CUDA kernels keep what they were compiled with


def test_the_side_by_side_alternates_in_abba_blocks_until_each_side_has_its_processes() -> None:
    assert alternating(5) == [("default", 0), ("tuned", 0), ("tuned", 1), ("default", 1), ("default", 2),
                              ("tuned", 2), ("tuned", 3), ("default", 3), ("default", 4), ("tuned", 4)]


@pytest.mark.slow
def test_the_side_by_side_tests_the_processes_medians_not_their_pooled_calls(install_fake_plugin,
                                                                               tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")
    [case] = expand(RunOptions(**OPTIONS, modes=("throughput",)), Registry(), ["two_ways"],  # type: ignore[arg-type]
                    {"two_ways": ["cpu"]})
    tuned = Tuned(case=case, best=Settings("also", True, 1), rungs=[])
    with scratch_dir() as scratch:
        _side_by_side(tuned, lambda c: run_worker(c, 120.0, Path(scratch)), RecordWriter(tmp_path),
                      ("run", "machine"), 120.0, {}, lambda c: None)
    records = list(read_records(tmp_path))
    assert [(r["tuning"]["role"], r["config"]["repeat"]) for r in records] == alternating(FINAL_PROCESSES)
    assert len({r["case_id"] for r in records}) == 2 * FINAL_PROCESSES and all(r["status"] == "ok" for r in records)
    medians = {role: {r["config"]["repeat"]: float(np.median(r["throughput"]["train"]["samples_s"]))
                      for r in records if r["tuning"]["role"] == role} for role in ("default", "tuned")}
    # the test's figures are those of the processes' medians, five a side, paired by ABBA block
    logs = [math.log(medians["default"][i] / medians["tuned"][i]) for i in range(FINAL_PROCESSES)]
    assert tuned.speedup == pytest.approx(math.exp(np.mean(logs)))
    assert tuned.p_value == pytest.approx(ttest_1samp(logs, 0.0).pvalue)
    assert tuned.low is not None and tuned.low <= tuned.speedup <= tuned.high


def _run_tuned_applies_a_significant_win_to_the_matching_cases(tuned_run: Path, found: dict) -> None:
    options = RunOptions(**{**OPTIONS, "cells": ("gru", "rnn")}, modes=("throughput",),  # type: ignore[arg-type]
                         tuned=str(tuned_run))
    cases = {c.cell: c for c in expand(options, Registry(), ["two_ways"], {"two_ways": ["cpu"]})}
    best = found["best"] if found["outcome"] == "faster" else {"implementation": None, "flush_denormals": False,
                                                               "threads": cases["rnn"].threads}
    assert (cases["gru"].implementation, cases["gru"].flush_denormals, cases["gru"].threads) == (
        best["implementation"], best["flush_denormals"], best["threads"])
    assert cases["rnn"].implementation is None  # not tuned: as it was


@pytest.mark.parametrize(("outcome", "applied"), [("faster", True), ("not significant", False), ("slower", False),
                                                  (DEFAULT_WON, False)])
def test_run_tuned_applies_only_a_significant_win(install_fake_plugin, tmp_path: Path, outcome: str,
                                                  applied: bool) -> None:
    install_fake_plugin("two", "two_ways")
    [case] = expand(RunOptions(**OPTIONS, modes=("throughput",)), Registry(), ["two_ways"],  # type: ignore[arg-type]
                    {"two_ways": ["cpu"]})
    found = Tuned(case=case, best=Settings("also", False, 1), rungs=[], speedup=1.3, outcome=outcome)
    (tmp_path / TUNED_FILE).write_text(json.dumps({"cases": [found.to_dict()]}))
    options = RunOptions(**OPTIONS, modes=("throughput",), tuned=str(tmp_path))  # type: ignore[arg-type]
    [ran] = expand(options, Registry(), ["two_ways"], {"two_ways": ["cpu"]})
    assert (ran.implementation, ran.threads) == (("also", 1) if applied else (None, case.threads))


@pytest.mark.slow
def test_a_spent_budget_leaves_the_rest_untuned(install_fake_plugin, tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")
    ticks = itertools.count(0.0, 100.0)  # each look at the clock: 100 s later
    run_dir = tune(RunOptions(**{**OPTIONS, "cells": ("gru", "rnn")}), tmp_path,  # type: ignore[arg-type]
                   registry=Registry(), console=Console(file=None, quiet=True), budget_s=150.0,
                   clock=lambda: next(ticks))
    assert len(load_tuned(run_dir)) == 1  # the first case, then the budget was spent


@pytest.mark.skipif(len(usable_cpus()) < 2, reason="one core: a single candidate, nothing is searched")
def test_tune_where_no_candidate_finishes_is_not_decided_and_exits_non_zero(install_fake_plugin, cli,
                                                                               tmp_path: Path) -> None:
    install_fake_plugin("misbehaving", "misbehaving")  # "aborts": every training step ends its worker by SIGABRT
    code, out, err = cli("tune", "--backend", "aborts", "--task", "airline", "--cell", "gru", "--profile", "smoke",
                         "--no-check", "--results-dir", str(tmp_path / "r"))
    assert code == 1 and "rnnbench: error: nothing tuned: none of 1 cases was decided (no candidate finished" in err
    assert "tune aborts airline gru cpu: not tuned: no candidate finished" in out + err
    assert "default's own settings won" not in out + err and "reuse them" not in out + err
    [found] = load_tuned(next((tmp_path / "r").iterdir()))
    assert found["outcome"] == NOT_TUNED and found["speedup"] is None
    options = RunOptions(**{**OPTIONS, "backends": ("aborts",)}, modes=("throughput",),  # type: ignore[arg-type]
                         tuned=str(next((tmp_path / "r").iterdir())))
    [case] = expand(options, Registry(), ["aborts"], {"aborts": ["cpu"]})
    assert case.implementation is None  # nothing applied from a case that was not tuned


def test_a_budget_spent_before_the_first_case_tunes_nothing_and_says_so(install_fake_plugin, cli,
                                                                        tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")
    code, out, err = cli("tune", "--backend", "two_ways", "--task", "airline", "--cell", "gru", "--profile",
                         "smoke", "--no-check", "--budget", "0.001", "--results-dir", str(tmp_path / "r"))
    assert code == 1 and "nothing tuned: none of 1 cases was decided (the budget was spent" in err
    assert "reuse them" not in out + err
    saved = json.loads((next((tmp_path / "r").iterdir()) / TUNED_FILE).read_text())
    assert saved["cases"] == [] and [u["reason"] for u in saved["untuned"]] == [BUDGET_SPENT]


def test_a_tune_folder_is_not_resumed_as_a_run(install_fake_plugin, cli, tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")
    cli("tune", "--backend", "two_ways", "--task", "airline", "--cell", "gru", "--profile", "smoke", "--no-check",
        "--budget", "0.001", "--results-dir", str(tmp_path / "r"))
    [tune_dir] = (tmp_path / "r").iterdir()
    before = sorted(p.name for p in tune_dir.iterdir())
    code, _, err = cli("run", "--resume", str(tune_dir))
    assert code == 2 and f"rnnbench: error: {tune_dir} was written by rnnbench tune, not rnnbench run." in err
    assert sorted(p.name for p in tune_dir.iterdir()) == before


BAD_SETTINGS = [({"threads": "abc"}, "threads='abc' is not valid. Accepted: an integer >= 1"),
                ({"threads": None}, "threads=None is not valid"),
                ({"threads": True}, "threads=True is not valid"),
                ({"threads": 1000}, "threads=1000 is more than this machine lets rnnbench use. Accepted: 1 to"),
                ({"implementation": "warp"}, "implementation 'warp' does not run there. Accepted: plain, also"),
                ({"implementation": 3}, "implementation=3 is not valid"),
                ({"flush_denormals": "false"}, "flush_denormals='false' is not valid. Accepted: true or false")]


@pytest.mark.parametrize(("bad", "message"), BAD_SETTINGS)
def test_run_tuned_checks_every_tuned_value_before_anything_runs(install_fake_plugin, cli, tmp_path: Path,
                                                                 bad: dict, message: str) -> None:
    install_fake_plugin("two", "two_ways")
    [case] = expand(RunOptions(**OPTIONS, modes=("throughput",)), Registry(), ["two_ways"],  # type: ignore[arg-type]
                    {"two_ways": ["cpu"]})
    found = Tuned(case=case, best=Settings("also", False, 1), rungs=[], speedup=1.3, outcome="faster").to_dict()
    found["best"].update(bad)
    tune_dir = tmp_path / "tune"
    tune_dir.mkdir()
    (tune_dir / TUNED_FILE).write_text(json.dumps({"cases": [found]}))
    results = tmp_path / "results"
    code, _, err = cli("run", "--backend", "two_ways", "--task", "airline", "--cell", "gru", "--profile", "smoke",
                       "--mode", "throughput", "--no-check", "--tuned", str(tune_dir), "--results-dir", str(results))
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not results.exists()  # refused before the run folder


def test_run_tuned_matches_the_profile_and_keeps_the_tune_folder_resolved(install_fake_plugin, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_plugin("two", "two_ways")
    [case] = expand(RunOptions(**OPTIONS, modes=("throughput",)), Registry(), ["two_ways"],  # type: ignore[arg-type]
                    {"two_ways": ["cpu"]})
    found = Tuned(case=case, best=Settings("also", False, 1), rungs=[], speedup=1.3, outcome="faster")
    (tmp_path / TUNED_FILE).write_text(json.dumps({"cases": [found.to_dict()]}))  # tuned at the smoke shape
    monkeypatch.chdir(tmp_path.parent)
    options = RunOptions(**{**OPTIONS, "profile": "quick"}, modes=("throughput",),  # type: ignore[arg-type]
                         tuned=tmp_path.name)
    assert options.tuned == str(tmp_path)  # as typed, relative; stored absolute
    with pytest.raises(UsageError, match=r"tuned none of this run's cases \(it tuned: airline gru profile smoke\)"):
        expand(options, Registry(), ["two_ways"], {"two_ways": ["cpu"]})
