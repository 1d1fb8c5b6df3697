"""The NumPy reference backend: exact gradients, both dtypes, the Model contract.

Every other backend is judged against this one, so its gradients are checked
element by element against central finite differences in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnnbench import conformance
from rnnbench.backend import Model, ParitySettings
from rnnbench.backends import numpy_backend
from rnnbench.backends.numpy_backend import NumpyBackend, NumpyModel
from rnnbench.errors import SpecError, UsageError
from rnnbench.params import Params, init_params, param_shapes
from rnnbench.spec import CELLS, HEADS, ModelSpec, OptimizerSpec

VOCAB, DIM, FEATURES, HIDDEN, BATCH, STEPS = 7, 3, 3, 4, 3, 4
SGD = OptimizerSpec("sgd", lr=0.1)

FD_STEP = 1e-5  # balances truncation (~step^2) and rounding (~1e-16 / step) error: ~1e-10 absolute in all
FD_FLOOR = 1e-4  # gradients below this are judged absolutely: |error| <= 1e-6 * 1e-4 = 1e-10
FD_TOLERANCE = 1e-6


def make_spec(cell: str, head: str, num_layers: int = 1, inputs: str = "embedding",
              dtype: str = "float64") -> ModelSpec:
    embedding = {"vocab_size": VOCAB, "embedding_dim": DIM}
    io: dict = embedding if inputs == "embedding" else {"input_features": FEATURES}
    output = VOCAB if head == "lm" else 2
    return ModelSpec(cell, hidden_size=HIDDEN, head=head, output_size=output,  # type: ignore[arg-type]
                     num_layers=num_layers, dtype=dtype, **io)  # type: ignore[arg-type]


def make_batch(spec: ModelSpec, seed: int = 0, batch: int = BATCH,
               steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    return conformance.batch(spec, seed, size=batch, steps=steps)


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float) -> float:
    """max |a - n| / max(|a|, |n|, floor): relative for sizeable entries, absolute near zero."""
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return float(np.max(np.abs(analytic - numeric) / scale, initial=0.0))


def numeric_grads(model: NumpyModel, params: Params, x: np.ndarray, y: np.ndarray) -> Params:
    """Central differences of the loss with respect to every parameter element."""
    grads: Params = {}
    for name, value in params.items():
        grads[name] = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            original = value[index]
            losses = []
            for shift in (FD_STEP, -FD_STEP):
                value[index] = original + shift
                model.set_params(params)
                losses.append(model.loss_and_grads(x, y)[0])
            value[index] = original
            grads[name][index] = (losses[0] - losses[1]) / (2 * FD_STEP)
    return grads


@pytest.fixture(scope="module")
def backend() -> NumpyBackend:
    return NumpyBackend()


def build(backend: NumpyBackend, spec: ModelSpec, seed: int = 0,
          optimizer: OptimizerSpec = SGD) -> NumpyModel:
    model = backend.build(spec, init_params(spec, seed), optimizer)
    assert isinstance(model, NumpyModel)
    return model


def assert_gradients_match(backend: NumpyBackend, spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> None:
    params = init_params(spec, seed=1)
    model = backend.build(spec, params, SGD)
    _, analytic = model.loss_and_grads(x, y)
    numeric = numeric_grads(model, params, x, y)  # type: ignore[arg-type]
    errors = {name: relative_error(analytic[name], numeric[name], FD_FLOOR) for name in params}
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] <= FD_TOLERANCE, f"{worst}: relative error {errors[worst]:.2e}"


@pytest.mark.parametrize(
    ("cell", "head", "num_layers", "inputs"),
    list(itertools.product(CELLS, HEADS, (1, 2), ("embedding", "dense"))),
)
def test_gradients_match_finite_differences(backend: NumpyBackend, cell: str, head: str, num_layers: int,
                                            inputs: str) -> None:
    spec = make_spec(cell, head, num_layers, inputs)
    assert_gradients_match(backend, spec, *make_batch(spec))


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_of_a_single_step_and_sample(backend: NumpyBackend, cell: str) -> None:
    spec = make_spec(cell, "lm", 2)
    assert_gradients_match(backend, spec, *make_batch(spec, batch=1, steps=1))


@pytest.mark.parametrize(("cell", "head", "inputs"),
                         [(c, h, i) for c in CELLS for h, i in (("lm", "embedding"), ("classify", "dense"),
                                                                 ("regress", "dense"))])
def test_float32_agrees_with_float64(backend: NumpyBackend, cell: str, head: str, inputs: str) -> None:
    spec64 = make_spec(cell, head, 2, inputs, "float64")
    spec32 = make_spec(cell, head, 2, inputs, "float32")
    x, y = make_batch(spec64)
    params = init_params(spec64, seed=2)
    model64, model32 = backend.build(spec64, params, SGD), backend.build(spec32, params, SGD)
    out64, out32 = model64.predict(x), model32.predict(x)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-6)
    loss64, grads64 = model64.loss_and_grads(x, y)
    loss32, grads32 = model32.loss_and_grads(x, y)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for name, grad in grads64.items():
        assert grads32[name].dtype == np.float32
        np.testing.assert_allclose(grads32[name], grad, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize(("head", "expected"),
                         [("lm", (5, 6, VOCAB)), ("classify", (5, 2)), ("regress", (5, 2))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_shapes(backend: NumpyBackend, head: str, expected: tuple[int, ...], dtype: str) -> None:
    spec = make_spec("lstm", head, 2, dtype=dtype)
    x, _ = make_batch(spec, batch=5, steps=6)
    out = build(backend, spec).predict(x)
    assert out.shape == expected
    assert out.dtype == np.dtype(dtype)


@pytest.mark.parametrize("cell", CELLS)
def test_rows_are_independent_of_batch_size(backend: NumpyBackend, cell: str) -> None:
    spec = make_spec(cell, "lm", 2)
    model = build(backend, spec)
    x, _ = make_batch(spec, batch=4)
    full = model.predict(x)
    np.testing.assert_allclose(model.predict(x[1:2]), full[1:2], rtol=1e-12)
    np.testing.assert_allclose(model.predict(x), full, rtol=0)  # the workspace of shape (T, 4) is reused


def test_predict_is_a_fresh_copy(backend: NumpyBackend) -> None:
    spec = make_spec("gru", "lm")
    model = build(backend, spec)
    x, _ = make_batch(spec)
    first = model.predict(x)
    kept = first.copy()
    model.predict(x[::-1].copy())
    np.testing.assert_array_equal(first, kept)


def test_loss_and_grads_has_the_layout_and_changes_nothing(backend: NumpyBackend) -> None:
    spec = make_spec("lstm", "classify", 2, dtype="float32")
    model = build(backend, spec)
    before = model.get_params()
    x, y = make_batch(spec)
    loss, grads = model.loss_and_grads(x, y)
    assert isinstance(loss, float)
    assert {k: v.shape for k, v in grads.items()} == param_shapes(spec)
    assert all(g.dtype == np.float32 for g in grads.values())
    for name, value in model.get_params().items():
        np.testing.assert_array_equal(value, before[name])
    grads["head.b"][...] = 99.0  # the caller's copy, not the model's buffer
    assert model.loss_and_grads(x, y)[1]["head.b"].max() < 99.0


def test_get_and_set_params_round_trip_as_copies(backend: NumpyBackend) -> None:
    spec = make_spec("gru", "regress", 2, "dense", "float32")
    model = build(backend, spec)
    params = init_params(make_spec("gru", "regress", 2, "dense", "float64"), seed=5)
    model.set_params(params)
    got = model.get_params()
    assert got.keys() == params.keys()
    for name, value in got.items():
        assert value.dtype == np.float32  # cast to the spec's dtype
        np.testing.assert_array_equal(value, params[name].astype(np.float32))
    params["head.w"][...] = 7.0  # the caller's array after set_params
    got["head.b"][...] = 7.0  # the array get_params returned
    again = model.get_params()
    assert not np.any(again["head.w"] == 7.0) and not np.any(again["head.b"] == 7.0)


def test_set_params_rejects_a_wrong_layout(backend: NumpyBackend) -> None:
    spec = make_spec("lstm", "lm")
    model = build(backend, spec)
    params = init_params(spec, seed=0)
    with pytest.raises(SpecError, match="l0.w_hh"):
        model.set_params({**params, "l0.w_hh": np.zeros((3, 3))})
    del params["head.b"]
    with pytest.raises(SpecError, match="head.b"):
        model.set_params(params)


def test_set_params_resets_the_optimiser(backend: NumpyBackend) -> None:
    spec = make_spec("rnn", "regress", inputs="dense")
    momentum = OptimizerSpec("sgd", lr=0.1, momentum=0.9)
    x, y = make_batch(spec)
    params = init_params(spec, seed=0)
    used = backend.build(spec, params, momentum)
    used.train_step(x, y)
    used.set_params(params)
    used.train_step(x, y)
    fresh = backend.build(spec, params, momentum)
    fresh.train_step(x, y)
    for name, value in fresh.get_params().items():
        np.testing.assert_array_equal(used.get_params()[name], value)


@pytest.mark.parametrize(("cell", "head"), [("rnn", "lm"), ("lstm", "classify"), ("gru", "regress")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_step_reduces_the_loss(backend: NumpyBackend, cell: str, head: str, dtype: str) -> None:
    spec = make_spec(cell, head, 2, dtype=dtype)
    x, y = make_batch(spec, seed=3)
    model = build(backend, spec, optimizer=OptimizerSpec("adam", lr=0.02, clip_norm=1.0))
    first = model.loss_and_grads(x, y)[0]
    for _ in range(40):
        model.train_step(x, y)
    assert model.loss_and_grads(x, y)[0] < 0.7 * first


def test_dense_input_is_cast_to_the_model_dtype(backend: NumpyBackend) -> None:
    spec = make_spec("lstm", "regress", inputs="dense", dtype="float32")
    model = build(backend, spec)
    x, _ = make_batch(spec)
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), model.predict(x))


def test_a_device_other_than_cpu_is_rejected(backend: NumpyBackend) -> None:
    spec = make_spec("rnn", "lm")
    with pytest.raises(UsageError, match=r"'cuda:0'.*Accepted: cpu"):
        backend.build(spec, init_params(spec, 0), SGD, device="cuda:0")


def test_classify_targets_must_match_the_output_size(backend: NumpyBackend) -> None:
    spec = make_spec("rnn", "classify")
    x, y = make_batch(spec)
    with pytest.raises(UsageError, match=r"Accepted: floats \(B, O\) = \(3, 2\)"):
        build(backend, spec).train_step(x, y[:, :1])


def test_plugin_registers_the_backend(backend: NumpyBackend) -> None:
    assert numpy_backend.rnnbench_register_backends() == [NumpyBackend]
    assert (backend.name, backend.framework, backend.requires) == ("numpy", "numpy", ("numpy",))
    assert backend.available().ok
    assert "numpy" in backend.versions()


def test_model_contract_and_runtime_info(backend: NumpyBackend) -> None:
    model = build(backend, make_spec("rnn", "lm"))
    assert isinstance(model, Model)
    model.synchronize()
    assert model.device_memory() is None
    info = model.runtime_info()
    assert info.kernel_path.startswith("numpy: BLAS matmul")
    assert info.settings["blas"]


def test_configure_limits_the_live_blas_pool_and_records_it(backend: NumpyBackend) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=None):  # restores the original limits after the test
        applied = backend.configure(ParitySettings(threads=1, flush_denormals=True))
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and set(blas) == {1}
    assert applied["threads"].endswith(" 1")
    assert "not supported" in applied["flush_denormals"]
