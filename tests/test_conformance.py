"""Every installed backend computes the reference function; the reference matches finite differences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from rnnbench.backends.numpy_backend import NumpyModel
from rnnbench.conformance import (
    NORMWISE_TOLERANCE,
    OPTIMIZERS,
    STREAMING,
    TOLERANCE,
    Case,
    batch,
    cases,
    check_backend,
    check_case,
    check_reference,
    compare,
    run_check,
    streamed_steps,
)
from rnnbench.errors import SpecError, UsageError
from rnnbench.params import State, init_params
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.spec import CELLS, HEADS, ModelSpec, OptimizerSpec

# CI installs every framework, so none of these is skipped there.
CHECKED = ("torch", "tensorflow", "jax", "torchloop")


@pytest.fixture(scope="module")
def all_plugins() -> Registry:
    """Built-ins and installed plugins (the example plugin among them)."""
    return Registry(make_plugin_manager())


@pytest.mark.slow
def test_numpy_reference_matches_finite_differences(all_plugins):
    report = check_reference(all_plugins.backend("numpy"))
    labels = [c.label for c in cases(("float64",))]
    assert [(c.case, c.quantity) for c in report.comparisons] == [
        (label, quantity) for label in labels for quantity in ("grad", "step vs sequence")]
    assert report.ok, [c for c in report.comparisons if not c.ok]
    assert max(c.max_rel for c in report.comparisons) <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)  # a cell at a time: the parts of a slow framework's check can run in parallel
@pytest.mark.parametrize("name", CHECKED)
def test_backend_matches_numpy_reference(all_plugins, name, cell):
    backend = all_plugins.backend(name)
    status = backend.available()
    if not status.ok:
        pytest.skip(status.message(name))
    shapes = {(cell, head, layers) for head in HEADS for layers in (1, 2)}
    report = run_check(all_plugins, name, shapes=shapes)
    failures = [c for c in report.comparisons if not c.ok]
    assert report.ok, failures
    assert {c.case for c in report.comparisons} == {c.label for c in cases(shapes=shapes)}  # every dtype, none skipped
    quantities = {c.quantity for c in report.comparisons}
    assert quantities == {"output", STREAMING, "loss", "grad", "adam step", "rmsprop step", "sgd step"}
    # the streaming step checked on every case, outputs and states step by step, and never reported missing
    assert {c.case for c in report.comparisons if c.quantity == STREAMING} == {c.label for c in cases(shapes=shapes)}
    assert not [note for note in report.skipped if STREAMING in note], report.skipped


def test_a_gradient_off_by_1e5_fails_conformance(install_fake_plugin):
    install_fake_plugin("off", "off_by_a_bit")
    registry = Registry(make_plugin_manager())
    report = check_backend(registry.backend("off_by_a_bit"), registry.backend("numpy"), ("float64",))
    assert not report.ok
    failed = {c.quantity for c in report.comparisons if not c.ok}
    assert failed == {"grad"}


def test_the_check_builds_a_case_once_per_optimiser():
    from rnnbench.backends.numpy_backend import NumpyBackend

    class Counting(NumpyBackend):
        name = "counting"
        builds = 0

        def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
            Counting.builds += 1
            return super().build(spec, params, optimizer, device)

    case = cases(("float32",))[0]
    comparisons = list(check_case(Counting(), NumpyBackend(), case))
    assert [c.quantity for c in comparisons][-len(OPTIMIZERS):] == [f"{o.name} step" for o in OPTIMIZERS]
    assert Counting.builds == len(OPTIMIZERS)  # output, loss and gradients on the first optimiser's model


def test_float32_on_a_gpu_is_held_to_the_looser_fused_kernel_tolerance_and_nothing_else_is():
    want = {"w": np.array([1.0, -0.5, 0.02])}
    cuDNN_like = {"w": want["w"] * (1 + 5e-4)}  # off as cuDNN's float32 RNN kernels are
    float32 = Case("rnn", "lm", 1, "float32")
    assert not compare(float32, "output", cuDNN_like, want).ok
    assert compare(float32, "output", cuDNN_like, want, device="gpu:0").ok
    assert not compare(float32, "output", {"w": want["w"] * 1.01}, want, device="gpu:0").ok
    assert not compare(Case("rnn", "lm", 1, "float64"), "output", cuDNN_like, want, device="gpu:0").ok


@pytest.mark.parametrize("name", ("numpy", "torch", "tensorflow", "jax"))
def test_last_loss_is_the_loss_of_the_step_just_taken(all_plugins, name):
    # The training loop detects NaN and draws its curve from last_loss(); every shipped backend reports it.
    backend = all_plugins.backend(name)
    status = backend.available()
    if not status.ok:
        pytest.skip(status.message(name))
    spec = next(c for c in cases(("float64",)) if c.head == "classify").spec()
    x, y = batch(spec)
    model = backend.build(spec, init_params(spec, 0), OPTIMIZERS[0])
    before, _ = model.loss_and_grads(x, y)
    model.train_step(x, y)
    assert model.last_loss() == pytest.approx(before, rel=1e-9)


# One case per cell; between them every head, input kind and depth (mixed precision compiles per case too).
MIXED_SHAPES = {("rnn", "lm", 2), ("lstm", "regress", 1), ("gru", "classify", 1)}


@pytest.mark.slow
@pytest.mark.parametrize("precision", ("mixed_bfloat16", "mixed_float16"))
@pytest.mark.parametrize("name", ("torch", "tensorflow", "jax"))
def test_mixed_precision_computes_in_16_bits_within_its_tolerance_of_the_float32_reference(all_plugins, name,
                                                                                            precision):
    backend = all_plugins.backend(name)
    if not backend.available().ok:
        pytest.skip(backend.available().message(name))
    report = run_check(all_plugins, name, (precision,), shapes=MIXED_SHAPES)
    assert report.ok, [c for c in report.comparisons if not c.ok]
    assert {c.quantity for c in report.comparisons} == {"output", STREAMING, "loss", "grad", "sgd step"}
    assert {c.tolerance for c in report.comparisons} == {NORMWISE_TOLERANCE[precision]}
    # 16 bits really ran: a float32 computation would sit within float32's 1e-4 of the reference
    assert max(c.max_rel for c in report.comparisons if c.quantity == "output") > TOLERANCE["float32"]


# A regression whose targets are far off: the first gradients of loss * 2^15 overflow float16.
FAR = ModelSpec("lstm", hidden_size=5, head="regress", output_size=2, input_features=3, autocast="float16")
TINY_SGD = OptimizerSpec("sgd", lr=1e-7, momentum=0.0, clip_norm=None)


def _steps_skipped(backend, steps: int = 14) -> list[bool]:
    """For each train step of FAR: True when the parameters stayed as they were (the step was skipped)."""
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)  # (B, T, F)
    y = np.full((4, 2), 3e3, np.float32)  # (B, O): d loss / d out about 1.5e3, x 2^15 is past float16's 65504
    model = backend.build(FAR, init_params(FAR, 0), TINY_SGD)
    skipped, before = [], model.get_params()
    for _ in range(steps):
        model.train_step(x, y)
        after = model.get_params()
        skipped.append(all(np.array_equal(after[k], before[k]) for k in before))
        before = after
    return skipped


@pytest.mark.slow
def test_float16_skips_the_overflowing_steps_and_backs_off_the_scale_the_same_way_in_every_framework(all_plugins):
    found = {}
    for name in ("torch", "tensorflow", "jax"):
        backend = all_plugins.backend(name)
        if backend.available().ok:
            found[name] = _steps_skipped(backend)
    if not found:
        pytest.skip("no framework with float16 autocast is installed")
    for name, skipped in found.items():
        first = skipped.index(False)  # the scale halves on each overflow until the gradients fit
        assert first >= 1 and skipped[:first] == [True] * first and not any(skipped[first:]), (name, skipped)
    assert len({tuple(s) for s in found.values()}) == 1, found  # one rule: the same steps skipped everywhere


def _first_gpu(backend) -> str | None:
    return next((d for d in backend.devices() if d.startswith("gpu")), None) if backend.available().ok else None


@pytest.mark.gpu
@pytest.mark.parametrize("name", ("torch", "tensorflow", "jax"))
def test_tf32_on_a_gpu_is_within_its_tolerance_of_the_float32_reference(all_plugins, name):
    backend = all_plugins.backend(name)
    device = _first_gpu(backend)
    if device is None:
        pytest.skip(f"{name} sees no GPU here (tf32 runs on GPUs only)")
    report = run_check(all_plugins, name, ("tf32",), device=device, shapes=MIXED_SHAPES)
    assert report.ok, [c for c in report.comparisons if not c.ok]
    assert {c.quantity for c in report.comparisons} == {"output", STREAMING, "loss", "grad", "sgd step"}
    assert {c.tolerance for c in report.comparisons} == {NORMWISE_TOLERANCE["tf32"]}


def test_a_backend_without_mixed_precision_refuses_it_rather_than_compute_float32(all_plugins):
    spec = replace(cases(("float32",))[0].spec(), autocast="bfloat16")
    with pytest.raises(UsageError, match=r"^Backend 'numpy' does not compute mixed_bfloat16\. "
                                         r"Accepted: float32, float64$"):
        all_plugins.backend("numpy").build(spec, init_params(spec, 0), OPTIMIZERS[0])
    report = check_backend(all_plugins.backend("numpy"), all_plugins.backend("numpy"), ("mixed_bfloat16",))
    assert report.comparisons == [] and report.skipped == ["mixed_bfloat16: numpy supports only float32, float64"]


def _check_cli(*argv: str) -> subprocess.CompletedProcess:
    """``rnnbench check --json ARGV...`` in a subprocess, with this test's plugins on PYTHONPATH."""
    return subprocess.run([sys.executable, "-m", "rnnbench", "check", "--json", *argv], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ), check=False)


def test_a_one_bias_cell_built_by_the_guides_recipe_passes_the_check_optimiser_steps_included(install_fake_plugin):
    install_fake_plugin("one_bias", "one_bias", "rnnbench-one-bias", "0.1")
    result = _check_cli("--backend", "one_bias")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    (report,) = json.loads(result.stdout)
    steps = [c for c in report["comparisons"] if c["quantity"].endswith(" step")]
    assert {c["quantity"] for c in steps} == {"adam step", "rmsprop step", "sgd step"}
    assert {c["case"].split("-")[0] for c in steps} == {"rnn", "lstm", "gru"} and all(c["ok"] for c in steps)


def test_a_one_bias_cell_storing_the_sum_of_the_biases_fails_every_optimiser_step(install_fake_plugin):
    install_fake_plugin("one_bias", "one_bias", "rnnbench-one-bias", "0.1")
    result = _check_cli("--backend", "one_bias_sum", "--dtype", "float64")
    assert result.returncode == 1, result.stderr
    (report,) = json.loads(result.stdout)
    failing = {c["quantity"] for c in report["comparisons"] if not c["ok"]}
    assert failing == {"adam step", "rmsprop step", "sgd step"}  # outputs, loss and gradients agree


def test_a_backend_whose_build_raises_fails_its_report_in_one_line_naming_the_plugin(install_fake_plugin):
    install_fake_plugin("faulty", "faulty", "rnnbench-faulty", "0.1")
    report = run_check(Registry(make_plugin_manager()), "raises_build", ("float32",))
    assert not report.ok
    (raised,) = report.comparisons  # counted as a failing comparison by whoever counts them (the pre-check)
    assert (raised.quantity, raised.ok, raised.worst) == ("raised", False, "RuntimeError: build() blew up")
    assert report.error is not None and "\n" not in report.error
    assert "'faulty' (rnnbench-faulty 0.1)" in report.error and "build() blew up" in report.error
    assert "RNNBENCH_BLOCK_PLUGINS=faulty" in report.error
    assert report.to_dict()["error"] == report.error


class _ForgetsTheCell(NumpyModel):
    """A step that returns an LSTM state without its cell: what the core, not the step, must catch."""

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        output, after = super().step(x, state)
        return output, {name: value for name, value in after.items() if not name.endswith(".c")}


def test_a_step_that_returns_a_state_of_another_layout_is_caught_by_the_core():
    spec = Case("lstm", "regress", 1, "float64").spec()
    model = _ForgetsTheCell(spec, init_params(spec, 0), OPTIMIZERS[0])
    with pytest.raises(SpecError, match=r"state does not match the spec: got \['l0.h'\]. Accepted: \['l0.c', 'l0.h'\]"):
        streamed_steps(model, spec, batch(spec, 0)[0])
