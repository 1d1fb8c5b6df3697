"""The plugin manager: built-ins, entry points, blocking and broken plugins."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from rnnbench.backend import Implementation
from rnnbench.cli.tables import implementation_fields
from rnnbench.conformance import run_checks
from rnnbench.errors import BackendUnavailable, PluginError, UsageError
from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import plan, split_training_cases
from rnnbench.manager.tune import tunable
from rnnbench.plugins import BLOCK_ENV, BUILTIN_PLUGINS, DISABLE_AUTOLOAD_ENV, make_plugin_manager
from rnnbench.plugins.registry import Registry


def test_builtins_are_registered_by_dotted_name(pm):
    assert {pm.get_name(p) for p in pm.get_plugins()} == set(BUILTIN_PLUGINS)
    assert pm.origin_of("rnnbench.backends.numpy_backend").describe() == "built-in"


def test_builtin_backends_are_listed_by_name(registry):
    assert {"numpy", "torch", "tensorflow", "jax"} <= set(registry.backend_names())


def test_entry_point_plugin_is_loaded_with_its_distribution(install_fake_plugin):
    install_fake_plugin("sample", "sample_plugin", "rnnbench-sample", "2.0.1")
    registry = Registry(make_plugin_manager())
    assert registry.task_entries["sample_task"].origin.describe() == "rnnbench-sample 2.0.1"
    entry = registry.backend_entries["missing"]
    assert entry.origin.describe() == "rnnbench-sample 2.0.1"
    assert entry.origin.plugin == "sample"


def test_entry_points_can_be_turned_off_by_environment(install_fake_plugin, monkeypatch):
    install_fake_plugin("sample", "sample_plugin")
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert "sample_task" not in Registry(make_plugin_manager()).task_names()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_blocking_works_for_entry_points(install_fake_plugin, monkeypatch, how):
    install_fake_plugin("sample", "sample_plugin")
    if how == "environment":
        monkeypatch.setenv(BLOCK_ENV, "other, sample")
        pm = make_plugin_manager()
    else:
        pm = make_plugin_manager(block=["sample"])
    assert "sample_task" not in Registry(pm).task_names()
    assert "char_rnn" in Registry(pm).task_names()


def test_blocking_works_for_builtins():
    registry = Registry(make_plugin_manager(block=["rnnbench.backends.torch_backend"], load_entry_points=False))
    assert "torch" not in registry.backend_names()
    assert "numpy" in registry.backend_names()


def test_blocking_a_broken_plugin_lets_the_rest_load(install_fake_plugin, monkeypatch):
    install_fake_plugin("broken", "import_error")
    monkeypatch.setenv(BLOCK_ENV, "broken")
    assert "numpy" in Registry(make_plugin_manager()).backend_names()


def test_misspelled_hook_is_rejected_naming_the_plugin(install_fake_plugin):
    install_fake_plugin("typo", "misspelled_hook", "rnnbench-typo", "0.3")
    pm = make_plugin_manager()
    assert pm.get_plugin("typo") is None and pm.get_plugin("rnnbench.backends.numpy_backend") is not None
    assert re.search(r"'typo' \(rnnbench-typo 0.3\) implements an unknown hook.*rnnbench_register_backend\b",
                     pm.faults["typo"])


def test_import_error_names_the_plugin_and_how_to_block_it(install_fake_plugin):
    install_fake_plugin("broken", "import_error", "rnnbench-broken")
    registry = Registry(make_plugin_manager())
    assert "numpy" in registry.backend_names()  # the rest loads
    message = registry.faults["broken"]
    assert "'broken' (rnnbench-broken 1.2.3) failed to import: ModuleNotFoundError" in message
    assert f"{BLOCK_ENV}=broken" in message


def test_duplicate_backend_name_lists_both_origins(install_fake_plugin):
    install_fake_plugin("dup", "duplicate_name", "rnnbench-dup", "9.9")
    registry = Registry(make_plugin_manager())
    assert registry.origin("numpy").describe() == "built-in"  # the first registered keeps the name
    assert re.search(r"duplicate backend name 'numpy': registered by built-in and by rnnbench-dup 9.9",
                     registry.faults["dup"])


def test_registering_something_else_than_a_backend_class_is_rejected(install_fake_plugin):
    install_fake_plugin("bad", "bad_return")
    registry = Registry(make_plugin_manager())
    assert "numpy" in registry.backend_names()
    assert "registered 'not a class' as a backend. Accepted: a subclass of Backend" in registry.faults["bad"]
    with pytest.raises(PluginError, match=f"{BLOCK_ENV}=bad"):
        registry.available_backend("bad")  # the plugin stands in as a backend that never runs


def test_unknown_backend_lists_what_exists(registry):
    built_in = "jax, numpy, onnxruntime, openvino, tensorflow, torch"
    with pytest.raises(UsageError, match=rf"Unknown backend 'foo'. Available: {built_in}"):
        registry.backend("foo")


def test_unknown_task_lists_what_exists(install_fake_plugin):
    install_fake_plugin("sample", "sample_plugin")
    with pytest.raises(UsageError, match=r"Unknown task 'nope'. Available: airline, char_rnn, forecasting, imdb, "
                                         r"sample_task"):
        Registry(make_plugin_manager()).task("nope")


def test_unavailable_backend_is_data_under_all_and_an_error_by_name(install_fake_plugin):
    install_fake_plugin("sample", "sample_plugin")
    registry = Registry(make_plugin_manager())
    chosen, skipped = registry.select_backends(["all"])
    assert "missing" not in [b.name for b in chosen]
    assert skipped["missing"].install_hint == 'pip install "rnnbench-missing"'
    with pytest.raises(BackendUnavailable, match=r"Backend 'missing' is not available: the module "
                                                 r"'rnnbench_no_such_framework' is not installed; install it "
                                                 r'with: pip install "rnnbench-missing"'):
        registry.select_backends(["missing"])


def test_each_manager_is_fresh(install_fake_plugin):
    first = make_plugin_manager(load_entry_points=False)
    install_fake_plugin("sample", "sample_plugin")
    second = make_plugin_manager()
    assert first.get_plugin("sample") is None
    assert second.get_plugin("sample") is not None


# ---- faulty plugin code: one line naming the plugin, and the rest goes on ----------------------------

FAULTY = ("faulty", "faulty", "rnnbench-faulty", "0.1")  # entry point, module, distribution, version
FAULTY_SAYS = "'faulty' (rnnbench-faulty 0.1)"
BLOCK_HINT = f"{BLOCK_ENV}=faulty"
# The frameworks the CLI tests need not import: numpy and the test plugins are enough.
OTHERS_BLOCKED = {BLOCK_ENV: "rnnbench.backends.torch_backend,rnnbench.backends.tensorflow_backend,"
                             "rnnbench.backends.jax_backend,rnnbench.backends.onnxruntime_backend,"
                             "rnnbench.backends.openvino_backend,example"}
STD = ("--profile", "smoke", "--task", "forecasting", "--cell", "lstm", "--mode", "throughput", "--no-check", "--quiet")


def rnnbench(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m rnnbench ARGV...`` in a subprocess with this test's plugins on PYTHONPATH."""
    return subprocess.run([sys.executable, "-m", "rnnbench", *argv], capture_output=True, text=True, timeout=300,
                          env=os.environ | (env or {}), check=False)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnnbench: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("module", ["raising_hook", "exiting_hook"])
def test_a_raising_registration_hook_is_a_fault_and_the_rest_loads(install_fake_plugin, module):
    install_fake_plugin("broken", module, "rnnbench-broken", "0.2")
    registry = Registry(make_plugin_manager())
    assert "numpy" in registry.backend_names()
    fault = registry.faults["broken"]
    assert "'broken' (rnnbench-broken 0.2)" in fault and "rnnbench_register_backends" in fault
    assert f"{BLOCK_ENV}=broken" in fault


@pytest.mark.slow
@pytest.mark.parametrize("module", ["raising_hook", "exiting_hook"])
def test_a_raising_registration_hook_does_not_stop_a_run_of_another_backend(install_fake_plugin, tmp_path, module):
    install_fake_plugin("broken", module, "rnnbench-broken", "0.2")
    result = rnnbench("run", *STD, "--backend", "numpy", "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    assert "1 records (0 not ok)" in result.stdout


def test_faulty_metadata_makes_a_backend_unavailable_naming_the_plugin(install_fake_plugin):
    from faulty import METADATA_FAULTS

    install_fake_plugin(*FAULTY)
    registry = Registry(make_plugin_manager())
    chosen, skipped = registry.select_backends(["all"])
    assert set(METADATA_FAULTS) <= set(skipped)
    assert {"numpy", "raises_build"} <= {b.name for b in chosen}
    for name, says in METADATA_FAULTS.items():
        assert FAULTY_SAYS in skipped[name].reason and says in skipped[name].reason
        with pytest.raises(PluginError, match=BLOCK_HINT):
            registry.available_backend(name)


def test_plugins_lists_a_faulty_plugin_as_not_available_with_the_reason(install_fake_plugin):
    from faulty import METADATA_FAULTS

    install_fake_plugin(*FAULTY)
    install_fake_plugin("broken", "raising_hook", "rnnbench-broken", "0.2")
    result = rnnbench("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["numpy"]["available"]
    for name, says in METADATA_FAULTS.items():
        assert not rows[name]["available"] and FAULTY_SAYS in rows[name]["reason"] and says in rows[name]["reason"]
    assert not rows["broken"]["available"] and "the hook blew up" in rows["broken"]["reason"]
    table = rnnbench("plugins")
    assert table.returncode == 0 and "raises_versions" in table.stdout and "broken" in table.stdout, table.stderr


@pytest.mark.parametrize("backend", ["raises_available", "exits_available", "raises_versions",
                                     "raises_implementations", "wrong_available", "wrong_versions",
                                     "wrong_implementations"])
def test_running_a_faulty_backend_is_one_line_before_anything_is_written(install_fake_plugin, tmp_path, backend):
    install_fake_plugin(*FAULTY)
    result = rnnbench("run", *STD, "--backend", backend, "--results-dir", str(tmp_path / "results"))
    line = one_error_line(result)
    assert result.returncode == 1
    assert FAULTY_SAYS in line and BLOCK_HINT in line and backend in line
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_run_all_skips_a_faulty_backend_with_the_reason(install_fake_plugin, tmp_path):
    install_fake_plugin(*FAULTY)
    result = rnnbench("run", *STD, "--backend", "all", "--results-dir", str(tmp_path / "results"),
                      env=OTHERS_BLOCKED)
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() + result.stdout.splitlines() if line.startswith("skipped")]
    assert any("raises_implementations" in line and FAULTY_SAYS in line for line in skipped), result.stderr
    lines = next((tmp_path / "results").glob("*/records.jsonl")).read_text().splitlines()
    records = {record["backend"]: record for record in map(json.loads, lines)}
    assert [records[name]["status"] for name in ("numpy", "raises_build", "exits_build")] == ["ok", "failed", "failed"]
    assert records["exits_build"]["error"] == "SystemExit: 3"  # in the worker too: a document, not a crash


@pytest.mark.slow
def test_check_all_fails_a_faulty_backend_in_one_line_and_checks_the_others(install_fake_plugin):
    install_fake_plugin(*FAULTY)
    result = rnnbench("check", "--backend", "all", "--dtype", "float32", env=OTHERS_BLOCKED)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "conformance of 'numpy'" in out and "PASS" in out
    failed = [line for line in out.splitlines() if line.startswith("failed")]
    assert any("raises_build" in line and "build() blew up" in line and FAULTY_SAYS in line for line in failed), out
    assert any("exits_available" in line and "SystemExit" in line for line in failed), out


@pytest.mark.slow
def test_check_goes_on_after_a_backend_whose_build_raises(install_fake_plugin):
    install_fake_plugin(*FAULTY)
    result = rnnbench("check", "--backend", "raises_build", "--backend", "numpy", "--dtype", "float32")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("failed") and "raises_build" in line and BLOCK_HINT in line for line in lines), lines
    assert "conformance of 'numpy'" in result.stdout


@pytest.mark.slow
def test_a_plugin_backend_records_its_distribution_and_version(install_fake_plugin, tmp_path):
    install_fake_plugin("two", "two_ways", "rnnbench-two-ways", "0.4")
    result = rnnbench("run", *STD, "--backend", "two_ways", "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    record = json.loads(next((tmp_path / "results").glob("*/records.jsonl")).read_text().splitlines()[0])
    assert record["versions"]["rnnbench-two-ways"] == "0.4"
    assert "numpy" in record["versions"]
    report = rnnbench("report", str(next((tmp_path / "results").iterdir())), "-o", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    assert "backend_versions.two_ways" in (html := (tmp_path / "report.html").read_text())
    row = html[html.index("backend_versions.two_ways"):].split("</tr>")[0]
    assert "rnnbench-two-ways 0.4" in row and "numpy " in row  # the environment table traces results to the plugin


def test_sys_exit_while_importing_a_plugin_is_one_line_naming_it_not_a_silent_exit(install_fake_plugin, tmp_path):
    install_fake_plugin("quits", "exits_on_import", "rnnbench-quits", "0.3")
    listing = rnnbench("plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    row = {row["name"]: row for row in json.loads(listing.stdout)}["quits"]
    assert not row["available"] and "'quits' (rnnbench-quits 0.3) failed to import: SystemExit: sys.exit(3)" in \
        row["reason"]
    result = rnnbench("run", *STD, "--backend", "quits", "--results-dir", str(tmp_path / "results"))
    line = one_error_line(result)
    assert result.returncode == 1 and "failed to import: SystemExit: sys.exit(3)" in line
    assert f"{BLOCK_ENV}=quits" in line and not (tmp_path / "results").exists()


# ---- output hooks: a machine fact and a report section, added by a plugin alone ----------------------


def test_a_plugin_adds_a_machine_fact_and_a_report_section_through_hooks_alone(install_fake_plugin, tmp_path):
    install_fake_plugin("reporting", "reporting", "rnnbench-reporting", "0.1")
    install_fake_plugin("reporting_faulty", "reporting_faulty", "rnnbench-reporting-faulty", "0.1")
    result = rnnbench("run", *STD, "--backend", "numpy", "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    assert "'reporting_faulty' (rnnbench-reporting-faulty 0.1) failed in rnnbench_update_machine_info" in \
        result.stderr + result.stdout
    [run_dir] = (tmp_path / "results").iterdir()
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["lab_rack"] == "B4 <shelf 2>\x1b[2J" and "half written" not in environment
    html_file = tmp_path / "report.html"
    assert rnnbench("report", str(run_dir), "-o", str(html_file)).returncode == 0
    html = html_file.read_text()
    assert "<h2>Records per backend</h2>" in html and "<td>numpy</td><td>1</td>" in html
    assert "B4 &lt;shelf 2&gt;\\x1b[2J" in html and "\x1b" not in html  # the fact, escaped, in the environment
    markdown = rnnbench("report", str(run_dir), "--format", "markdown")
    assert markdown.returncode == 0 and "## Records per backend" in markdown.stdout
    assert "| numpy | 1 |" in markdown.stdout
    assert "'reporting_faulty' (rnnbench-reporting-faulty 0.1) failed in rnnbench_report_sections" in \
        markdown.stdout + markdown.stderr  # named where the report says what it left out


SERVES_ONLY = ("serves_only", "serves_only", "rnnbench-serves-only", "0.1")


@pytest.mark.slow
def test_a_plugin_that_does_not_train_is_measured_where_it_competes_and_its_training_cases_are_skipped(
        install_fake_plugin, tmp_path):
    install_fake_plugin(*SERVES_ONLY)
    checked = rnnbench("check", "--backend", "serves_only", "--dtype", "float32", env=OTHERS_BLOCKED)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "streaming step" in checked.stdout and "PASS" in checked.stdout
    assert "not checked: loss, gradients and optimiser steps: backend 'serves_only' does not train" in checked.stdout
    result = rnnbench("run", "--profile", "smoke", "--task", "airline", "--cell", "gru", "--quiet",
                      "--backend", "serves_only", "--backend", "numpy", "--results-dir", str(tmp_path / "results"),
                      env=OTHERS_BLOCKED)
    assert result.returncode == 0, result.stderr
    run_dir = next((tmp_path / "results").iterdir())
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    records = {(r["backend"], r["mode"]): r for r in map(json.loads, lines)}
    said = [line for line in result.stdout.splitlines() if line.startswith("skipped")]
    assert said == ["skipped: Backend 'serves_only' does not train (inference only): the memory mode trains; it is "
                    "measured by the throughput mode's inference half",
                    "skipped: Backend 'serves_only' does not train (inference only): the accuracy mode trains; it is "
                    "measured by the throughput mode's inference half"], result.stderr
    for mode in ("memory", "accuracy"):
        assert records["serves_only", mode]["status"] == "skipped"
        assert records["serves_only", mode]["error"].startswith("Backend 'serves_only' does not train")
        assert records["numpy", mode]["status"] == "ok"
    served = records["serves_only", "throughput"]
    assert served["status"] == "ok" and served["conformance"]["ok"]
    assert served["throughput"]["train"] is None and served["throughput"]["infer"]["samples_per_s"] > 0
    # The verdict ranks it where it competes: inference, never training nor memory.
    from rnnbench.report.model import load_report_data
    from rnnbench.report.verdict import verdict

    found = verdict(load_report_data(run_dir))
    wins = found.wins
    assert "serves_only does not train: its 2 memory and accuracy cases are skipped by design; it competes in " \
           "inference and serving only." in found.caveats
    assert not [c for c in found.caveats if c.startswith("Cases that did not finish")]  # not a failure
    assert {(w.winner, w.runner_up) for w in wins if w.measure in ("training", "memory")} == {("numpy", None)}
    assert [{w.winner, w.runner_up} for w in wins if w.measure == "inference"] == [{"numpy", "serves_only"}]


def test_an_export_path_of_a_plugin_that_trains_is_served_checked_and_tuned_as_an_inference_runtime(
        install_fake_plugin):
    install_fake_plugin("exports_too", "exports_too")
    registry = Registry()
    backend = registry.backend("exports_too")
    assert backend.default_implementation("cpu") == "reference"  # listed second, the first that trains
    assert backend.trains_with(None) and not backend.trains_with("served")
    options = RunOptions(backends=("exports_too",), tasks=("airline",), cells=("gru",), profile="smoke",
                         implementations=("all",))
    run, skipped = split_training_cases(plan(options, registry)[0], registry)
    assert sorted((case.mode, case.implementation) for case, _ in skipped) == [("accuracy", "served"),
                                                                              ("memory", "served")]
    assert skipped[0][1].startswith("Implementation 'served' of backend 'exports_too' does not train")
    assert {(c.mode, c.implementation) for c in run} >= {("throughput", "served"), ("memory", "reference")}
    assert [i.name for i in tunable(backend, "cpu")] == ["reference"]  # tuned on training steps only
    listed = {i["name"]: i["trains"] for i in implementation_fields(backend)["implementations"]}
    assert listed == {"served": False, "reference": True}
    [report] = run_checks(registry, "exports_too", ("float32",), implementation="served")
    assert report.ok and {c.quantity for c in report.comparisons} == {"output", "streaming step"}
    assert report.skipped == ["loss, gradients and optimiser steps: implementation 'served' of backend "
                              "'exports_too' does not train (an export path)"]


def test_an_implementation_says_whether_it_trains_with_a_bool():
    with pytest.raises(PluginError, match=r"trains='no'. Accepted: True or False"):
        Implementation("served", "an export path", ("cpu",), trains="no")  # type: ignore[arg-type]


def test_a_run_names_the_export_path_whose_training_cases_it_skipped(install_fake_plugin, tmp_path):
    install_fake_plugin("exports_too", "exports_too")
    result = rnnbench("run", "--backend", "exports_too", "--implementation", "all", "--mode", "memory",
                      "--profile", "smoke", "--task", "airline", "--cell", "gru", "--no-check", "--quiet",
                      "--results-dir", str(tmp_path / "results"), env=OTHERS_BLOCKED)
    assert result.returncode == 0, result.stderr
    [run_dir] = (tmp_path / "results").iterdir()
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    records = {r["config"]["implementation"]: r for r in map(json.loads, lines)}
    assert records["served"]["status"] == "skipped"
    assert records["served"]["implementation"] == {"name": "served", "default": False}
    assert records["reference"]["status"] == "ok"
    assert "caveat: exports_too[served] does not train: its 1 memory and accuracy cases are skipped by design" \
        in result.stdout
