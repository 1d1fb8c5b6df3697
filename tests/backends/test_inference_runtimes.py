"""The inference runtimes, onnxruntime and openvino: their check, and the settings they run with."""

from __future__ import annotations

import pytest

from rnnbench.backend import ParitySettings
from rnnbench.conformance import STREAMING, cases, run_check
from rnnbench.params import init_params
from rnnbench.plugins.registry import Registry
from rnnbench.spec import ModelSpec, OptimizerSpec

pytest.importorskip("onnx")
RUNTIMES = {"onnxruntime": ("full", "extended", "basic"), "openvino": ("latency", "throughput")}
OPTIMIZER = OptimizerSpec("sgd", lr=0.1)


def _available(name: str):
    backend = Registry().backend(name)
    if not backend.available().ok:
        pytest.skip(backend.available().message(name))
    return backend


@pytest.mark.parametrize(("name", "implementation"), [(n, i) for n, impls in RUNTIMES.items() for i in impls])
def test_every_case_of_every_runtime_passes_on_outputs_and_each_streamed_step(name, implementation):
    _available(name)
    report = run_check(Registry(), name, ("float32",), implementation=implementation)
    assert report.ok, [c for c in report.comparisons if not c.ok]
    labels = [c.label for c in cases(("float32",))]
    assert [(c.case, c.quantity) for c in report.comparisons] == [
        (label, quantity) for label in labels for quantity in ("output", STREAMING)]
    assert report.skipped == [f"loss, gradients and optimiser steps: backend {name!r} does not train"]


def test_openvino_computes_bfloat16_only_when_asked_and_passes_it_within_its_tolerance():
    backend = _available("openvino")
    spec = ModelSpec("gru", 8, "regress", 2, input_features=3)
    settings = backend.build(spec, init_params(spec, 0), OPTIMIZER).runtime_info().settings
    # The CPU plugin's own default is bfloat16 on CPUs with bfloat16 units: float32 must say f32.
    assert settings["inference_precision_hint"] == "f32"
    report = run_check(Registry(), "openvino", ("mixed_bfloat16",))
    assert report.ok and {c.quantity for c in report.comparisons} == {"output", STREAMING}
    mixed = ModelSpec("gru", 8, "regress", 2, input_features=3, autocast="bfloat16")
    assert backend.build(mixed, init_params(mixed, 0), OPTIMIZER).runtime_info().settings[
        "inference_precision_hint"] == "bf16"


@pytest.mark.parametrize(("name", "threads_key"), [("onnxruntime", "intra_op_threads"),
                                                   ("openvino", "inference_num_threads")])
def test_the_configured_threads_are_what_the_runtime_reports_it_runs_with(name, threads_key):
    backend = _available(name)
    spec = ModelSpec("lstm", 8, "lm", 11, vocab_size=11, embedding_dim=4)
    for threads in (1, 2):
        backend.configure(ParitySettings(threads))
        settings = backend.build(spec, init_params(spec, 0), OPTIMIZER).runtime_info().settings
        assert settings[threads_key] == str(threads) and settings["threads"] == str(threads)


def test_the_graph_runs_each_layer_as_the_fused_onnx_operator():
    from rnnbench.backends.onnx_graph.graph import build_model

    for cell, operator in (("rnn", "RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
        spec = ModelSpec(cell, 8, "classify", 2, num_layers=3, vocab_size=11, embedding_dim=4)
        kinds = [node.op_type for node in build_model(spec, init_params(spec, 0)).graph.node]
        assert kinds.count(operator) == 3 and "Loop" not in kinds and "Scan" not in kinds
