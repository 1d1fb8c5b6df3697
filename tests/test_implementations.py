"""Implementations: every way of every installed backend computes the reference function, and is listed.

The default of each backend is checked on every case by tests/test_conformance.py;
here each implementation is checked on three tiny cases that between them cover
every cell, head, input kind (token ids, dense features), depth and dtype: the
implementations differ only in how the recurrent layers run. Three, not more,
because XLA, jax's unroll and torch.compile compile a program per case and
optimiser (10-40 s a case on 2 cores).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnbench.backend import Backend, Implementation, Model
from rnnbench.cli.tables import conformance_table, implementations_table, plugin_rows
from rnnbench.conformance import (
    REFERENCE_BACKEND,
    STEP_VS_SEQUENCE,
    STREAMING,
    Case,
    Comparison,
    Report,
    batch,
    check_case,
    check_reference_case,
    implementations_to_check,
    run_checks,
)
from rnnbench.errors import PluginError, UsageError
from rnnbench.params import init_params
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.spec import OptimizerSpec

# One case per cell; between them every head, input kind, depth (a second layer's input is the first's
# output, where hoisted projections differ) and dtype.
CASES = [Case("rnn", "lm", 2, "float64"), Case("lstm", "regress", 1, "float32"), Case("gru", "classify", 2, "float32")]
DENSE_GRU = Case("gru", "regress", 1, "float32")
SHIPPED = ("numpy", "torch", "tensorflow", "jax")

# Inductor imports torch.utils.mkldnn, which warns about its own use of torch.jit.script_method.
COMPILE_WARNING = "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"


def _pairs() -> list:
    """(backend, implementation) for every implementation of every installed backend that runs on the CPU."""
    registry = Registry(make_plugin_manager())
    pairs = []
    for name in registry.backend_names():
        backend = registry.backend(name)
        if not backend.available().ok:
            continue
        for implementation in backend.implementations():
            if implementation.runs_on("cpu"):
                marks = [pytest.mark.slow, pytest.mark.filterwarnings(COMPILE_WARNING)] if (
                    implementation.name == "compiled") else [pytest.mark.slow]
                pairs.append(pytest.param(name, implementation.name, id=f"{name}-{implementation.name}",
                                          marks=marks))
    return pairs


@pytest.fixture(scope="module")
def all_plugins() -> Registry:
    """Built-ins and installed plugins (the example plugin among them)."""
    return Registry(make_plugin_manager())


@pytest.mark.parametrize(("name", "implementation"), _pairs())
def test_every_implementation_matches_the_reference(all_plugins, name, implementation):
    backend = all_plugins.available_backend(name)
    backend.use_implementation(implementation)
    if name == REFERENCE_BACKEND:
        checked = [case for case in CASES if case.dtype == "float64"]
        comparisons = [c for case in checked for c in check_reference_case(backend, case)]
        stepped = STEP_VS_SEQUENCE  # the reference's step against its own sequence
    else:
        reference = all_plugins.available_backend(REFERENCE_BACKEND)
        checked = [case for case in CASES if case.dtype in backend.dtypes]
        comparisons = [c for case in checked for c in check_case(backend, reference, case)]
        stepped = STREAMING
    assert comparisons and all(c.ok for c in comparisons), [c for c in comparisons if not c.ok]
    assert {c.implementation for c in comparisons} == {implementation}
    assert {c.case for c in comparisons if c.quantity == stepped} == {c.label for c in checked}  # each steps


def _gpu_pairs() -> list:
    """(backend, implementation) for every implementation of a shipped backend that can run on a GPU."""
    registry = Registry(make_plugin_manager(load_entry_points=False))
    return [pytest.param(name, i.name, id=f"{name}-{i.name}", marks=[pytest.mark.filterwarnings(COMPILE_WARNING)])
            for name in SHIPPED for i in registry.backend(name).implementations() if i.runs_on("gpu")]


@pytest.mark.gpu
@pytest.mark.parametrize(("name", "implementation"), _gpu_pairs())
def test_every_gpu_implementation_matches_the_reference(all_plugins, name, implementation):
    backend = all_plugins.backend(name)
    if not backend.available().ok or "gpu:0" not in backend.devices():
        pytest.skip(f"{name} sees no GPU here")
    backend.use_implementation(implementation)
    reference = all_plugins.available_backend(REFERENCE_BACKEND)
    comparisons = [c for case in CASES for c in check_case(backend, reference, case, device="gpu:0")]
    assert comparisons and all(c.ok for c in comparisons), [c for c in comparisons if not c.ok]


@pytest.mark.parametrize("name", ("torch", "tensorflow", "jax"))
def test_each_framework_backend_offers_several_implementations_with_a_default_per_device(all_plugins, name):
    backend = all_plugins.backend(name)
    names = [i.name for i in backend.implementations()]
    assert len(names) >= 2 and len(set(names)) == len(names)
    for kind in ("cpu", "gpu"):
        assert backend.default_implementation(kind) in names
        device = "gpu:0" if kind == "gpu" else kind
        assert backend.implementation_for(device) == backend.default_implementation(kind)


@pytest.mark.parametrize("name", SHIPPED)
def test_models_record_the_implementation_that_built_them(all_plugins, name):
    backend = all_plugins.backend(name)
    if not backend.available().ok:
        pytest.skip(backend.available().message(name))
    spec = CASES[0].spec()
    for implementation in backend.implementations():
        if implementation.runs_on("cpu"):
            backend.use_implementation(implementation.name)
            model = backend.build(spec, init_params(spec, 0), OptimizerSpec("sgd", lr=0.1))
            assert model.runtime_info().settings["implementation"] == implementation.name
    backend.use_implementation(None)
    default = backend.build(spec, init_params(spec, 0), OptimizerSpec("sgd", lr=0.1))
    assert default.runtime_info().settings["implementation"] == backend.default_implementation("cpu", spec)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_nothing_chosen_is_the_default_chosen_bit_for_bit(all_plugins, name):
    backend = all_plugins.backend(name)
    if not backend.available().ok:
        pytest.skip(backend.available().message(name))
    case = DENSE_GRU
    spec, params = case.spec(), init_params(case.spec(), 0)
    x, y = batch(spec)
    results = []
    for chosen in (None, backend.default_implementation("cpu", spec)):
        backend.use_implementation(chosen)
        model = backend.build(spec, params, OptimizerSpec("adam", lr=1e-2, clip_norm=0.5))
        model.train_step(x, y)
        results.append((model.predict(x), model.get_params()))
    (out_a, params_a), (out_b, params_b) = results
    np.testing.assert_array_equal(out_a, out_b)
    for key, value in params_a.items():
        np.testing.assert_array_equal(value, params_b[key], err_msg=key)


# ---- choosing one ---------------------------------------------------------------------


def test_an_unknown_implementation_is_one_line_naming_the_accepted(cli):
    code, out, err = cli("check", "--backend", "numpy", "--implementation", "fused")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "rnnbench: error: Unknown implementation 'fused' for backend 'numpy'. Accepted: reference"]


def test_an_implementation_off_its_device_is_refused_naming_those_that_run_there(all_plugins):
    backend = all_plugins.backend("numpy")
    backend.use_implementation("reference")
    with pytest.raises(UsageError, match=r"Implementation 'reference' of backend 'numpy' does not run on 'gpu:0'. "
                                         r"Accepted there: none"):
        backend.checked_implementation("gpu:0")


@pytest.mark.slow
def test_check_all_reports_each_implementation_by_name(cli):
    code, out, err = cli("check", "--backend", "numpy", "--implementation", "all", "--json")
    assert code == 0, err
    [report] = json.loads(out)
    assert (report["backend"], report["implementation"], report["implementations"]) == (
        "numpy", "reference", ["reference"])
    assert {c["implementation"] for c in report["comparisons"]} == {"reference"}


def test_all_means_the_implementations_that_run_on_the_device(all_plugins):
    torch = all_plugins.backend("torch")
    on_gpu = [i.name for i in torch.implementations() if i.runs_on("gpu")]
    assert implementations_to_check(torch, "gpu:0", "all") == on_gpu
    assert implementations_to_check(torch, "cpu", None) == [None]
    assert implementations_to_check(torch, "cpu", "loop") == ["loop"]


def _printed(report: Report) -> list[str]:
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(conformance_table(report))
    return console.export_text().splitlines()


def test_the_text_report_names_the_implementation_and_each_rows_when_defaults_differ():
    xla = Comparison("rnn-lm-L1-float32", "grad", 1e-7, 1e-6, "head.w", 1e-4, 1e-2, implementation="xla")
    graph = Comparison("lstm-lm-L1-float32", "loss", 1e-7, 1e-6, "loss", 1e-4, 1e-2, implementation="graph")
    chosen = _printed(Report("tensorflow", "numpy", [xla], implementation="xla"))
    assert "conformance of 'tensorflow' (xla) against numpy: PASS" in chosen[0]
    assert "implementation" not in chosen[2]  # the header row: one implementation, no column
    defaults = _printed(Report("tensorflow", "numpy", [xla, graph]))
    assert "conformance of 'tensorflow' (default (xla, graph)) against numpy: PASS" in defaults[0]
    assert "implementation" in defaults[2]
    assert any("graph" in line and "lstm-lm-L1-float32" in line for line in defaults)


# ---- the listing ------------------------------------------------------------------------


def test_plugins_json_lists_implementations_and_the_default_per_device_kind(cli):
    code, out, _ = cli("plugins", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    for name in ("torch", "tensorflow", "jax"):
        implementations = [i["name"] for i in rows[name]["implementations"]]
        assert len(implementations) >= 2
        assert set(rows[name]["default_implementation"].values()) <= set(implementations)
    assert rows["tensorflow"]["default_rule"]["cpu"] == "xla when hidden_size <= 64, else graph"
    assert rows["jax"]["default_implementation"] == {"cpu": "scan", "gpu": "hoisted"}
    assert rows["numpy"]["default_implementation"] == {"cpu": "reference", "gpu": None}
    assert rows["numpy"]["implementations"][0]["devices"] == ["cpu"]
    assert "implementations" not in rows["char_rnn"]  # tasks have none


def test_a_one_way_plugin_lists_its_single_default(cli):
    code, out, _ = cli("plugins", "--json")
    torchloop = {row["name"]: row for row in json.loads(out)}["torchloop"]
    assert [i["name"] for i in torchloop["implementations"]] == ["default"]
    assert torchloop["default_implementation"] == {"cpu": "default", "gpu": "default"}


def test_the_plugins_table_shows_each_implementation_and_the_rules(registry):
    from rich.console import Console

    console = Console(record=True, width=250)
    console.print(implementations_table(plugin_rows(registry)))
    text = console.export_text()
    for name in ("fused", "loop", "compiled", "graph", "xla", "hoisted", "scan", "unroll", "reference"):
        assert f" {name} " in text
    assert "tensorflow on cpu: xla when hidden_size <= 64, else graph" in text


# ---- the base class ------------------------------------------------------------------------


class OneWay(Backend):
    """A backend that knows nothing of implementations, as third-party plugins are."""

    name = "oneway"

    def build(self, spec, params, optimizer, device="cpu") -> Model:  # type: ignore[no-untyped-def]
        raise NotImplementedError


def test_a_backend_with_one_way_gets_a_single_default_everywhere():
    backend = OneWay()
    assert [i.name for i in backend.implementations()] == ["default"]
    assert backend.default_implementation("gpu:3") == backend.implementation_for("cpu") == "default"
    backend.use_implementation("default")
    assert backend.checked_implementation("gpu:0") == "default"
    with pytest.raises(UsageError, match=r"^Unknown implementation 'fast' for backend 'oneway'. Accepted: default$"):
        backend.use_implementation("fast")


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "Fused"}, "implementation name 'Fused' is not valid"),
    ({"name": "all"}, "other than 'all'"),
    ({"name": "ok", "devices": ("tpu",)}, r"devices=\('tpu',\). Accepted: a tuple of cpu, gpu"),
])
def test_implementation_names_and_devices_follow_the_rule(fields, message):
    with pytest.raises(PluginError, match=message):
        Implementation(description="x", **fields)


@pytest.mark.slow
def test_run_checks_of_the_default_is_one_report(all_plugins):
    [report] = run_checks(all_plugins, "numpy")
    assert report.ok and report.implementation is None and report.implementations == ["reference"]
