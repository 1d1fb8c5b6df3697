"""Implementations as an axis of the matrix: each in the case key, the record, the check and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnbench.errors import UsageError
from rnnbench.manager.options import RunOptions, expand
from rnnbench.manager.precheck import CHECK_FILE
from rnnbench.manager.runner import run
from rnnbench.plugins.registry import Registry
from rnnbench.report.model import load_report_data
from rnnbench.report.text import render_markdown
from rnnbench.results.store import read_records

SMALL = dict(tasks=("airline",), cells=("gru",), modes=("throughput",), profile="smoke", threads=1)


def _cases(registry: Registry, names: tuple[str, ...]) -> list:
    options = RunOptions(backends=("numpy", "two_ways"), implementations=names, **SMALL)  # type: ignore[arg-type]
    return expand(options, registry, ["numpy", "two_ways"], {"numpy": ["cpu"], "two_ways": ["cpu"]})


def test_default_all_and_a_name_pick_implementations_per_backend(install_fake_plugin) -> None:
    install_fake_plugin("two", "two_ways")
    registry = Registry()
    default = _cases(registry, ("default",))
    assert [c.implementation for c in default] == [None, None]
    assert "impl=" not in default[0].case_id  # the ids of runs made before implementations are kept
    everything = _cases(registry, ("all",))
    assert [(c.backend, c.implementation) for c in everything] == [
        ("numpy", "reference"), ("two_ways", "plain"), ("two_ways", "also")]
    assert len({c.case_id for c in everything}) == 3
    assert [(c.backend, c.implementation) for c in _cases(registry, ("also",))] == [("two_ways", "also")]
    with pytest.raises(UsageError, match=r"^Unknown implementation 'nosuch'\. Accepted: default, all, or one of "
                                         r"numpy: reference; two_ways: plain, also$"):
        _cases(registry, ("nosuch",))


def test_a_backend_without_the_implementation_named_is_refused_when_named_and_skipped_with_why_in_all(
        install_fake_plugin, tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")
    registry = Registry()
    with pytest.raises(UsageError, match=r"^Backend 'numpy' has no implementation 'also'\. Accepted for it: "
                                         r"--implementation default, all or reference, or --backend all "):
        run(RunOptions(backends=("numpy", "two_ways"), implementations=("also",), **SMALL),  # type: ignore[arg-type]
            tmp_path / "results", registry=registry, quiet=True)
    assert not (tmp_path / "results").exists()  # refused before anything was written
    report = run(RunOptions(backends=("all",), implementations=("also",), check=False, **SMALL),  # type: ignore[arg-type]
                 tmp_path / "results", registry=registry, quiet=True)
    assert {c.backend for c in report.cases} == {"two_ways"}
    assert report.skipped_backends["numpy"].message("numpy") == (
        "Backend 'numpy' is not available: it has no implementation 'also' (only reference)")
    records = {r["backend"]: r for r in read_records(report.run_dir)}
    assert records["two_ways"]["status"] == "ok" and records["two_ways"]["config"]["implementation"] == "also"
    assert records["numpy"]["status"] == "skipped" and "no implementation 'also'" in records["numpy"]["error"]


@pytest.mark.slow
def test_each_implementation_is_checked_recorded_and_reported_as_a_contender(install_fake_plugin,
                                                                           tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")
    options = RunOptions(backends=("two_ways",), implementations=("default", "also"),
                         **SMALL)  # type: ignore[arg-type]
    report = run(options, tmp_path, registry=Registry(), quiet=True)

    verdicts = json.loads((report.run_dir / CHECK_FILE).read_text())
    assert sorted(verdicts) == ["two_ways/cpu/also", "two_ways/cpu/plain"]  # the default, and the one chosen
    assert all(v["ok"] for v in verdicts.values())
    # Only the network the run measures (airline: a GRU, one layer, regression head) of the check's 18 shapes.
    assert all(v["worst"].startswith("gru-regress-L1-") and v["comparisons"] == 126 // 18 for v in verdicts.values())
    records = {r["implementation"]["name"]: r for r in read_records(report.run_dir)}
    assert records["plain"]["implementation"] == {"name": "plain", "default": True}
    assert records["also"]["implementation"] == {"name": "also", "default": False}
    assert records["also"]["conformance"]["ok"] is True
    markdown = render_markdown(load_report_data(report.run_dir))
    assert "two\\_ways\\[also\\]" in markdown and "| two\\_ways |" in markdown


@pytest.mark.slow
def test_the_check_covers_the_default_each_network_resolves_to(install_fake_plugin, tmp_path: Path) -> None:
    install_fake_plugin("two", "two_ways")  # its default: "plain", and "also" from hidden size 64 up
    options = RunOptions(backends=("two_ways",), hidden_sizes=(8, 64), **SMALL)  # type: ignore[arg-type]
    report = run(options, tmp_path, registry=Registry(), quiet=True)
    verdicts = json.loads((report.run_dir / CHECK_FILE).read_text())
    assert sorted(verdicts) == ["two_ways/cpu/also", "two_ways/cpu/plain"]  # not only the tiny check's default
    records = {r["config"]["hidden_size"]: r for r in read_records(report.run_dir)}
    assert records[64]["implementation"] == {"name": "also", "default": True}
    assert records[64]["conformance"] == verdicts["two_ways/cpu/also"]
    assert records[8]["conformance"] == verdicts["two_ways/cpu/plain"]
