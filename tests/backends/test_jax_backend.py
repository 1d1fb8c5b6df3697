"""JAX-specific tests: layout conversion, optax rules, devices, dtypes, settings.

The generic check against the NumPy reference (every cell, head and
optimiser) lives in tests/test_conformance.py; this file tests what only the
JAX backend has. Shapes are tiny and models are module-scoped: every build
compiles three XLA programs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.jax_backend import JaxBackend  # noqa: E402
from rnnbench.backends.jax_backend.layout import from_tree, to_carries, to_tree  # noqa: E402
from rnnbench.backends.jax_backend.optim import clip_like_torch, make_optimizer  # noqa: E402
from rnnbench.errors import SpecError, UsageError  # noqa: E402
from rnnbench.kit import CLIP_EPS as TORCH_CLIP_EPS  # noqa: E402
from rnnbench.params import init_params, zero_state  # noqa: E402
from rnnbench.spec import CELLS, ModelSpec, OptimizerSpec  # noqa: E402

ADAM = OptimizerSpec("adam", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=0.5)
LM = ModelSpec("lstm", hidden_size=4, head="lm", output_size=7, num_layers=2, vocab_size=7, embedding_dim=3)


def _has_gpu() -> bool:
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def _batch(spec: ModelSpec, seed: int = 0, size: int = 2, steps: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if spec.embedded:
        x = rng.integers(0, spec.vocab_size, (size, steps))  # type: ignore[arg-type]
    else:
        x = rng.standard_normal((size, steps, spec.input_features)).astype(spec.dtype)  # type: ignore[arg-type]
    if spec.head == "lm":
        return x, rng.integers(0, spec.output_size, (size, steps))
    if spec.head == "classify":
        return x, rng.integers(0, 2, (size, spec.output_size)).astype(spec.dtype)
    return x, rng.standard_normal((size, spec.output_size)).astype(spec.dtype)


@pytest.fixture(scope="module")
def backend() -> JaxBackend:
    return JaxBackend()


@pytest.fixture(scope="module")
def lm_model(backend: JaxBackend):  # type: ignore[no-untyped-def]
    return backend.build(LM, init_params(LM, 0), ADAM)


# --- plugin --------------------------------------------------------------------------------------


def test_module_imports_without_jax() -> None:
    code = ("import sys, rnnbench.backends.jax_backend as m; m.JaxBackend().available(); "
            "print(sorted({'jax', 'optax', 'jaxlib'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_configure_in_a_fresh_process_sets_env_before_importing_jax() -> None:
    code = ("import os, rnnbench.backends.jax_backend as m; from rnnbench.backend import ParitySettings; "
            "s = m.JaxBackend().configure(ParitySettings(threads=1, flush_denormals=True)); "
            "print(s['flush_denormals_gpu']); print(s['XLA_PYTHON_CLIENT_PREALLOCATE']); "
            "print(os.environ['XLA_FLAGS'])")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    ftz, preallocate, flags = out.stdout.strip().splitlines()
    assert ftz.startswith("flushed") and preallocate == "false" and "--xla_gpu_ftz=true" in flags


def test_versions_are_the_installed_ones(backend: JaxBackend) -> None:
    versions = backend.versions()
    assert versions["jax"] == jax.__version__
    assert versions["optax"] == optax.__version__
    assert "jaxlib" in versions


# --- layout --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embedded", [True, False])
def test_layout_round_trip_is_exact(cell: str, embedded: bool) -> None:
    inputs = {"vocab_size": 9, "embedding_dim": 3} if embedded else {"input_features": 5}
    spec = ModelSpec(cell, hidden_size=4, head="classify", output_size=2, num_layers=2, **inputs)  # type: ignore[arg-type]
    params = init_params(spec, 3)
    back = from_tree(spec, to_tree(spec, params))
    assert set(back) == set(params)
    for name, value in params.items():
        assert back[name].dtype == value.dtype
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_tree_uses_in_out_kernels() -> None:
    tree = to_tree(LM, init_params(LM, 0))
    params = init_params(LM, 0)
    assert tree["layers"][0]["w_ih"].shape == (3, 16)  # (I, 4H)
    assert tree["layers"][1]["w_hh"].shape == (4, 16)  # (H, 4H)
    assert tree["head"]["w"].shape == (4, 7)  # (H, O)
    np.testing.assert_array_equal(tree["layers"][1]["w_ih"], params["l1.w_ih"].T)


def test_to_tree_rejects_a_wrong_layout() -> None:
    params = init_params(LM, 0)
    del params["l1.b_hh"]
    with pytest.raises(SpecError, match="l1.b_hh"):
        to_tree(LM, params)


# --- the model -----------------------------------------------------------------------------------


def test_forward_matches_numpy_reference_on_converted_weights(backend: JaxBackend) -> None:
    numpy_backend = pytest.importorskip("rnnbench.backends.numpy_backend")
    spec = ModelSpec("gru", hidden_size=4, head="regress", output_size=2, input_features=3, dtype="float64")
    params = init_params(spec, 1)
    x, y = _batch(spec)
    got = backend.build(spec, params, ADAM)
    want = numpy_backend.NumpyBackend().build(spec, params, ADAM)
    np.testing.assert_allclose(got.predict(x), want.predict(x), rtol=1e-10, atol=1e-12)
    got_loss, got_grads = got.loss_and_grads(x, y)
    want_loss, want_grads = want.loss_and_grads(x, y)
    assert got_loss == pytest.approx(want_loss, rel=1e-10)
    for name in want_grads:
        np.testing.assert_allclose(got_grads[name], want_grads[name], rtol=1e-8, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(("tf32", "wanted"), [(False, "HIGHEST"), (True, "HIGH")])
def test_every_matmul_of_the_train_step_runs_at_the_precision_of_the_spec(tf32: bool, wanted: str) -> None:
    # XLA:GPU's default precision would run float32 dots in TF32; float32 pins HIGHEST on each dot of the
    # forward and backward pass, and the tf32 precision asks for TensorFloat-32 (lax.Precision.HIGH) on each.
    from rnnbench.backends.jax_backend.model import _jitted
    from rnnbench.backends.jax_backend.net import Loop

    spec = replace(LM, tf32=tf32)
    tx = make_optimizer(ADAM)
    tree = to_tree(spec, init_params(spec, 0))
    _, step, predict, stream = _jitted(spec, tx, Loop(hoist=False))
    x, y = _batch(spec)
    lowered = step.lower(tree, tx.init(tree), x.astype(np.int32), y.astype(np.int32)).as_text()
    precisions = re.findall(r"dot_general .*precision = \[(\w+), \1\]", lowered)
    assert len(precisions) >= 3 * LM.num_layers  # input, recurrent and head matmuls, and their transposes
    assert set(precisions) == {wanted}
    assert set(re.findall(r"precision = \[(\w+),", predict.lower(tree, x.astype(np.int32)).as_text())) == {wanted}
    carries = to_carries(spec, zero_state(spec, len(x)))
    streamed = stream.lower(tree, x[:, 0].astype(np.int32), carries).as_text()  # the streaming step's dots too
    assert set(re.findall(r"precision = \[(\w+),", streamed)) == {wanted}


def test_tf32_is_refused_on_the_cpu_rather_than_computed_as_float32(backend: JaxBackend) -> None:
    spec = replace(LM, tf32=True)
    with pytest.raises(UsageError, match=r"^Precision 'tf32' runs on GPUs only, not on 'cpu'\. Accepted: "):
        backend.build(spec, init_params(spec, 0), ADAM)


@pytest.mark.parametrize("cell", CELLS)
def test_hoisted_and_per_step_projection_compute_the_same_function(cell: str) -> None:
    # The GPU default (hoisted) is checked here on the CPU against the CPU default (per step).
    spec = replace(LM, cell=cell, hidden_size=3, dtype="float64")
    params = init_params(spec, 2)
    x, y = _batch(spec)
    models = []
    for implementation in ("hoisted", "scan"):
        backend = JaxBackend()
        backend.use_implementation(implementation)
        models.append(backend.build(spec, params, ADAM))
    hoisted, per_step = models
    assert "hoisted" in hoisted.runtime_info().kernel_path
    assert "per step" in per_step.runtime_info().kernel_path
    np.testing.assert_allclose(hoisted.predict(x), per_step.predict(x), rtol=1e-12, atol=1e-14)
    (loss_a, grads_a), (loss_b, grads_b) = hoisted.loss_and_grads(x, y), per_step.loss_and_grads(x, y)
    assert loss_a == pytest.approx(loss_b, rel=1e-12)
    for name in grads_a:
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_outputs_and_grads_have_canonical_shapes(lm_model) -> None:  # type: ignore[no-untyped-def]
    x, y = _batch(LM)
    assert lm_model.predict(x).shape == (2, 3, 7)  # (B, T, O)
    loss, grads = lm_model.loss_and_grads(x, y)
    assert isinstance(loss, float)
    params = init_params(LM, 0)
    assert {k: v.shape for k, v in grads.items()} == {k: v.shape for k, v in params.items()}


def test_train_step_updates_params_and_set_params_resets_state(lm_model) -> None:  # type: ignore[no-untyped-def]
    x, y = _batch(LM)
    start = init_params(LM, 0)
    lm_model.set_params(start)
    lm_model.train_step(x, y)
    lm_model.synchronize()
    first = lm_model.get_params()
    lm_model.train_step(x, y)  # the donated buffers of the first step must not be reused
    lm_model.synchronize()
    assert not np.array_equal(lm_model.get_params()["l0.w_hh"], first["l0.w_hh"])
    lm_model.set_params(start)  # fresh optimiser state: the first step repeats exactly
    lm_model.train_step(x, y)
    lm_model.synchronize()
    for name, value in first.items():
        np.testing.assert_array_equal(lm_model.get_params()[name], value, err_msg=name)


def test_get_params_returns_independent_copies(lm_model) -> None:  # type: ignore[no-untyped-def]
    a = lm_model.get_params()
    a["head.b"][:] = 123.0
    assert not np.any(lm_model.get_params()["head.b"] == 123.0)


def test_float64_enables_x64_and_float32_models_stay_float32(backend: JaxBackend, lm_model) -> None:  # type: ignore[no-untyped-def]
    spec = replace(LM, num_layers=1, dtype="float64")
    model64 = backend.build(spec, init_params(spec, 0), ADAM)
    x, _ = _batch(spec)
    assert jax.config.jax_enable_x64
    assert model64.predict(x).dtype == np.float64
    assert model64.runtime_info().settings["jax_enable_x64"] == "True"
    assert lm_model.predict(x).dtype == np.float32  # built before; x64 is process-wide
    assert all(v.dtype == np.float32 for v in lm_model.get_params().values())


# --- optimisers: optax configured to follow the documented torch rules ---------------------------


def _torch_rule(spec: OptimizerSpec, grads: list[np.ndarray], steps: int) -> np.ndarray:
    """The torch.optim update of one parameter (starting at 0) over ``grads``, in float64."""
    p, m, v = np.zeros_like(grads[0]), np.zeros_like(grads[0]), np.zeros_like(grads[0])
    for t, g in enumerate(grads[:steps], start=1):
        if spec.clip_norm is not None:
            g = g * min(spec.clip_norm / (np.linalg.norm(g) + 1e-6), 1.0)
        if spec.name == "adam":
            m = spec.beta1 * m + (1 - spec.beta1) * g
            v = spec.beta2 * v + (1 - spec.beta2) * g * g
            m_hat, v_hat = m / (1 - spec.beta1**t), v / (1 - spec.beta2**t)
            p = p - spec.lr * m_hat / (np.sqrt(v_hat) + spec.eps)
        elif spec.name == "rmsprop":
            v = spec.rho * v + (1 - spec.rho) * g * g
            p = p - spec.lr * g / (np.sqrt(v) + spec.eps)
        else:
            m = spec.momentum * m + g if t > 1 else g
            p = p - spec.lr * m
    return p


@pytest.mark.parametrize("spec", [
    OptimizerSpec("adam", lr=0.1, beta1=0.8, beta2=0.9, eps=1e-3),
    OptimizerSpec("rmsprop", lr=0.1, rho=0.7, eps=1e-2),  # a large eps shows where it sits
    OptimizerSpec("sgd", lr=0.1, momentum=0.9),
    OptimizerSpec("sgd", lr=0.1, momentum=0.0),
    OptimizerSpec("adam", lr=0.1, eps=1e-3, clip_norm=0.5),
], ids=["adam", "rmsprop", "sgd-momentum", "sgd", "adam-clipped"])
def test_optax_follows_the_torch_rules(spec: OptimizerSpec) -> None:
    jax.config.update("jax_enable_x64", True)  # exact comparison; process-wide, as documented
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5) * scale for scale in (0.1, 3.0, 0.02)]
    tx = make_optimizer(spec)
    params = jnp.zeros(5, jnp.float64)
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
    want = _torch_rule(spec, grads, len(grads))
    np.testing.assert_allclose(np.asarray(params), want, rtol=1e-12, atol=1e-15)


def test_clip_like_torch_scales_by_norm_plus_eps_only_below_one() -> None:
    tx = clip_like_torch(1.0)
    small = {"a": jnp.asarray([0.3, 0.4])}  # norm 0.5: coef 1/(0.5+1e-6) > 1, untouched
    out, _ = tx.update(small, tx.init(small))
    np.testing.assert_array_equal(np.asarray(out["a"]), np.asarray(small["a"]))
    big = {"a": jnp.asarray([3.0, 0.0]), "b": jnp.asarray([4.0])}  # global norm 5
    out, _ = tx.update(big, tx.init(big))
    coef = 1.0 / (5.0 + TORCH_CLIP_EPS)
    np.testing.assert_allclose(np.asarray(out["b"]), [4.0 * coef], rtol=1e-7)


# --- devices, settings, runtime ------------------------------------------------------------------


def test_devices_list_cpu_first(backend: JaxBackend) -> None:
    devices = backend.devices()
    assert devices[0] == "cpu"
    assert all(d.startswith("gpu:") for d in devices[1:])


@pytest.mark.parametrize("device", ["cuda:0", "gpu:99", "tpu", "gpu:x"])
def test_unknown_device_is_a_usage_error_listing_accepted(backend: JaxBackend, device: str) -> None:
    with pytest.raises(UsageError, match=r"Unknown device .* Accepted: cpu"):
        backend.build(LM, init_params(LM, 0), ADAM, device=device)


def test_configure_records_the_working_mechanisms() -> None:
    backend = JaxBackend()
    applied = backend.configure(ParitySettings(threads=2, flush_denormals=False))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in applied.items())
    assert applied["threads"] == "2"
    assert "affinity" in applied["threads_mechanism"]
    assert applied["flush_denormals_cpu"].startswith("always")
    assert "jit" in applied["xla"]
    model = backend.build(LM, init_params(LM, 0), ADAM)
    info = model.runtime_info()
    assert info.kernel_path == "jax jit + lax.scan (input projection per step), XLA CPU"
    assert info.settings["threads"] == "2"


def test_xla_cpu_flushes_denormals() -> None:
    # The fact configure records: numpy keeps 1e-40, XLA:CPU returns 0.
    tiny = jax.device_put(np.float32(1e-20), jax.devices("cpu")[0])
    assert float(jax.jit(lambda a, b: a * b)(tiny, tiny)) == 0.0
    assert np.float32(1e-20) * np.float32(1e-20) > 0.0


def test_device_memory_is_none_on_cpu(lm_model) -> None:  # type: ignore[no-untyped-def]
    assert lm_model.device_memory() is None


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="needs a GPU visible to jax (jax.devices('gpu') is empty)")
def test_gpu_matches_cpu_and_reports_memory(backend: JaxBackend) -> None:
    spec = ModelSpec("lstm", hidden_size=8, head="classify", output_size=2, input_features=3)
    params = init_params(spec, 0)
    x, y = _batch(spec)
    cpu = backend.build(spec, params, ADAM)
    gpu = backend.build(spec, params, ADAM, device="gpu:0")
    np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), rtol=1e-5, atol=1e-6)
    gpu.train_step(x, y)
    gpu.synchronize()
    memory = gpu.device_memory()
    assert memory is not None and memory.peak_bytes > 0
    assert "XLA GPU" in gpu.runtime_info().kernel_path
    assert "hoisted" in gpu.runtime_info().kernel_path  # the GPU default


# ---- implementations ---------------------------------------------------------

def test_the_default_is_scan_on_the_cpu_and_hoisted_on_gpus() -> None:
    backend = JaxBackend()
    assert [i.name for i in backend.implementations()] == ["scan", "hoisted", "unroll", "exported"]
    assert (backend.default_implementation("cpu", LM), backend.default_implementation("gpu:0", LM)) == (
        "scan", "hoisted")


@pytest.mark.slow
def test_unroll_computes_the_scan_function_with_a_partial_last_iteration() -> None:
    spec = replace(LM, cell="gru", hidden_size=3, dtype="float64")
    params = init_params(spec, 4)
    x, y = _batch(spec, steps=10)  # 10 steps: one unrolled iteration of 8, then 2
    models = {}
    for implementation in ("unroll", "scan"):
        backend = JaxBackend()
        backend.use_implementation(implementation)
        models[implementation] = backend.build(spec, params, ADAM)
    unrolled, scanned = models["unroll"], models["scan"]
    info = unrolled.runtime_info()
    assert info.kernel_path == "jax jit + lax.scan (input projection per step, unroll 8), XLA CPU"
    assert (info.settings["scan_unroll"], info.settings["implementation"]) == ("8", "unroll")
    np.testing.assert_allclose(unrolled.predict(x), scanned.predict(x), rtol=1e-12, atol=1e-14)
    (loss_a, grads_a), (loss_b, grads_b) = unrolled.loss_and_grads(x, y), scanned.loss_and_grads(x, y)
    assert loss_a == pytest.approx(loss_b, rel=1e-12)
    for name in grads_a:
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=1e-10, atol=1e-14, err_msg=name)


# ---- the streaming step ---------------------------------------------------------------


@pytest.mark.parametrize("implementation", ("scan", "hoisted", "unroll"))
def test_the_streaming_step_compiles_once_per_batch_shape_not_per_call(implementation):
    # A streaming service calls step once per token: new values must reuse the compiled program.
    backend = JaxBackend()
    backend.use_implementation(implementation)
    model = backend.build(LM, init_params(LM, 0), ADAM)
    out, state = model.step(np.array([1, 2]), zero_state(LM, 2))
    again, _ = model.step(np.array([3, 4]), state)
    assert model._stream._cache_size() == 1 and not np.allclose(out, again)
    model.step(np.array([1, 2, 3]), zero_state(LM, 3))
    assert model._stream._cache_size() == 2  # the count does count: a new batch shape compiles
