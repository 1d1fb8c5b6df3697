"""The torch backend's "aoti" export path: an InferenceModel computed by AOTInductor packages only.

tests/test_implementations.py checks its outputs and streamed steps against
the NumPy reference on three cases; here: what it is (an export path that does
not train), that the loaded package computes (on its own, once per shape, for
any batch) and that new parameters reach it. Each package compiles C++ (5-15 s
on 2 cores), so the file makes three: one predict, two steps.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnbench.backend import InferenceModel, Model  # noqa: E402
from rnnbench.backends.numpy_backend import NumpyBackend  # noqa: E402
from rnnbench.backends.torch_backend import AOTI, TorchBackend, compile_blockers  # noqa: E402
from rnnbench.backends.torch_backend import runtime as torch_runtime  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.params import init_params, zero_state  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402

needs_compiler = pytest.mark.skipif("cpu" in compile_blockers(), reason="AOTInductor needs a C++ compiler on the CPU")
SGD = OptimizerSpec("sgd", lr=0.1)
# Dense GRU regression in float64: inductor decomposes the GRU (no oneDNN kernel), checked at float64 tolerance.
SPEC = ModelSpec("gru", hidden_size=5, head="regress", output_size=2, num_layers=1, dtype="float64",
                 input_features=3)
EXPORTED = "exported: "


@pytest.fixture
def backend() -> TorchBackend:
    backend = TorchBackend()
    backend.use_implementation(AOTI)
    return backend


def features(batch: int, seed: int = 0, steps: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, steps, 3))  # (B, T, F)


def reference(seed: int) -> InferenceModel:
    return NumpyBackend().build(SPEC, init_params(SPEC, seed), SGD)


def exports(model: InferenceModel) -> str:
    """What runtime_info says was exported, with the seconds each took: a new export changes it."""
    return model.runtime_info().settings["export"].partition(EXPORTED)[2]


def test_aoti_is_the_last_implementation_an_export_path_that_does_not_train(backend: TorchBackend) -> None:
    plain = TorchBackend()
    assert plain.implementations()[-1].name == AOTI
    assert plain.implementation(AOTI).trains is False and plain.trains_with(AOTI) is False
    assert plain.default_implementation("cpu") == "fused" and plain.trains_with(None)
    if not plain.implementation(AOTI).runs_on("cpu"):
        pytest.skip(plain.implementation(AOTI).description)
    model = backend.build(SPEC, init_params(SPEC, 0), SGD)  # nothing exported until a call needs it
    assert isinstance(model, InferenceModel) and not isinstance(model, Model)
    info = model.runtime_info()
    assert info.kernel_path.startswith("torch.export of the torch nn.GRU network, compiled and packaged by "
                                       "AOTInductor (.pt2), loaded by torch._inductor.aoti_load_package")
    assert info.settings["implementation"] == AOTI and exports(model) == ""


@needs_compiler
def test_a_mixed_precision_is_refused_in_one_line(backend: TorchBackend) -> None:
    spec = replace(SPEC, dtype="float32", autocast="bfloat16")
    with pytest.raises(UsageError, match=r"^Implementation 'aoti' of backend 'torch' does not compute mixed_bfloat16. "
                                         r"Accepted: float32, float64$"):
        backend.build(spec, init_params(spec, 0), SGD)


@pytest.mark.slow
@needs_compiler
def test_predict_is_the_loaded_package_made_once_for_every_batch_size(backend: TorchBackend) -> None:
    from torch.export.pt2_archive._package import AOTICompiledModel

    model = backend.build(SPEC, init_params(SPEC, 0), SGD)
    np.testing.assert_allclose(model.predict(features(3)), reference(0).predict(features(3)), rtol=1e-9, atol=1e-12)
    [package] = model._packages.values()
    assert isinstance(package.runner, AOTICompiledModel) and zipfile.is_zipfile(package.path)
    made = exports(model)
    assert made.startswith("predict-T4 ")
    model.net = None  # the eager network is gone: the package alone computes
    for batch in (3, 1, 6):  # the same T, new values, other batch sizes: no new export (the batch is symbolic)
        got = model.predict(features(batch, seed=batch))
        np.testing.assert_allclose(got, reference(0).predict(features(batch, seed=batch)), rtol=1e-9, atol=1e-12)
    assert exports(model) == made


@pytest.fixture
def tf32_off_as_a_run_sets_it():
    """cuDNN's TF32 off through the new API, as every run's configure does (torch.export reads the legacy flag)."""
    cudnn = torch.backends.cudnn
    saved = cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision
    torch_runtime.float32_matmuls(False)
    yield
    cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision = saved


@pytest.mark.slow
@needs_compiler
def test_set_params_reaches_the_next_step(backend: TorchBackend, tf32_off_as_a_run_sets_it) -> None:
    model = backend.build(SPEC, init_params(SPEC, 0), SGD)
    x = features(2)[:, 0]  # one step (B, F)
    before, _ = model.step(x, zero_state(SPEC, 2))
    made = exports(model)
    assert made.startswith("step ")
    model.step(features(5)[:, 0], zero_state(SPEC, 5))  # another batch size: the same package
    assert exports(model) == made
    model.set_params(init_params(SPEC, 1))
    assert exports(model) == ""  # the packages baked the old parameters: dropped
    got, state = model.step(x, zero_state(SPEC, 2))
    want, want_state = reference(1).step(x, zero_state(SPEC, 2))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert not np.allclose(got, before)
    for name, value in want_state.items():
        np.testing.assert_allclose(state[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    assert all(np.array_equal(value, init_params(SPEC, 1)[name]) for name, value in model.get_params().items())
