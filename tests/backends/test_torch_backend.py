"""Torch-specific tests: layout conversion, optimiser settings, runtime settings, devices.

The generic check against the NumPy reference lives in tests/test_conformance.py;
here the reference only confirms that torch's own forward on converted weights
is the canonical function (the gate orders). Shapes are tiny.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.numpy_backend import NumpyBackend  # noqa: E402
from rnnbench.backends.torch_backend import TorchBackend, compile_blockers  # noqa: E402
from rnnbench.backends.torch_backend.layout import canonical_names, canonical_params, load_canonical  # noqa: E402
from rnnbench.backends.torch_backend.net import RnnNet  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.params import Params, init_params, zero_state  # noqa: E402
from rnnbench.spec import CELLS, ModelSpec, OptimizerSpec  # noqa: E402

GPU = torch.cuda.is_available()
requires_gpu = pytest.mark.skipif(not GPU, reason="needs a CUDA GPU; torch sees none here")
ADAM = OptimizerSpec("adam", lr=0.01, beta1=0.8, beta2=0.95, eps=1e-7, clip_norm=0.5)


def make_spec(cell: str = "lstm", head: str = "lm", embedded: bool = True, layers: int = 2,
              dtype: str = "float32") -> ModelSpec:
    inputs: dict = {"vocab_size": 7, "embedding_dim": 4} if embedded else {"input_features": 3}
    output = 7 if head == "lm" else 2
    return ModelSpec(cell, hidden_size=5, head=head, output_size=output, num_layers=layers,  # type: ignore[arg-type]
                     dtype=dtype, **inputs)  # type: ignore[arg-type]


def make_batch(spec: ModelSpec, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if spec.embedded:
        x = rng.integers(0, spec.vocab_size, (3, 4))  # (B, T)
    else:
        x = rng.standard_normal((3, 4, spec.input_features)).astype(spec.dtype)  # (B, T, F)
    if spec.head == "lm":
        return x, rng.integers(0, spec.output_size, (3, 4))  # (B, T)
    if spec.head == "classify":
        return x, rng.integers(0, 2, (3, spec.output_size)).astype(spec.dtype)  # (B, O)
    return x, rng.standard_normal((3, spec.output_size)).astype(spec.dtype)  # (B, O)


@pytest.fixture(scope="module")
def backend() -> TorchBackend:
    return TorchBackend()


@pytest.fixture
def restore_torch_settings():  # type: ignore[no-untyped-def]
    """configure() changes process-wide torch state: put it back afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)


def assert_close(got: Params | np.ndarray, want: Params | np.ndarray, dtype: str) -> None:
    rtol, atol = (1e-4, 1e-6) if dtype == "float32" else (1e-9, 1e-12)
    if isinstance(want, dict):
        assert set(got) == set(want)  # type: ignore[arg-type]
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol, err_msg=name)  # type: ignore[index]
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ---- layout ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("embedded", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_canonical_to_torch_to_canonical_is_exact(cell: str, embedded: bool, dtype: str) -> None:
    spec = make_spec(cell, embedded=embedded, dtype=dtype)
    params = init_params(spec, seed=3)
    net = RnnNet(spec).to(dtype=getattr(torch, dtype))
    load_canonical(net, spec, params)
    back = canonical_params(net, spec)
    assert set(back) == set(params)
    for name, value in params.items():
        assert back[name].dtype == value.dtype and np.array_equal(back[name], value), name


def test_torch_names_are_the_nn_module_ones() -> None:
    spec = make_spec("gru", layers=2)
    names = canonical_names(spec)
    assert names["l1.w_ih"] == "rnn.weight_ih_l1" and names["l0.b_hh"] == "rnn.bias_hh_l0"
    assert set(names.values()) == {n for n, _ in RnnNet(spec).named_parameters()}


def test_loading_keeps_the_torch_storage(backend: TorchBackend) -> None:
    """Weights are copied into the existing tensors, so cuDNN's flat buffer stays valid."""
    spec = make_spec("lstm")
    model = backend.build(spec, init_params(spec, 0), ADAM)
    before = [p.data_ptr() for p in model.net.parameters()]
    model.set_params(init_params(spec, 1))
    assert [p.data_ptr() for p in model.net.parameters()] == before


@pytest.mark.parametrize("embedded", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_torch_forward_on_converted_weights_is_the_reference(backend: TorchBackend, cell: str,
                                                             embedded: bool) -> None:
    """Gate orders: nn.LSTM i,f,g,o and nn.GRU r,z,n (b_hn inside r * ...) are canonical."""
    spec = make_spec(cell, embedded=embedded, dtype="float64")
    params = init_params(spec, seed=5)
    x, _ = make_batch(spec)
    want = NumpyBackend().build(spec, params, ADAM).predict(x)
    assert_close(backend.build(spec, params, ADAM).predict(x), want, "float64")


# ---- training ----------------------------------------------------------------

def test_optimizers_get_every_hyperparameter_from_the_spec(backend: TorchBackend) -> None:
    spec = make_spec("rnn")
    params = init_params(spec, 0)
    adam = backend.build(spec, params, ADAM).optimizer.param_groups[0]
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"], adam["amsgrad"]) == (
        0.01, (0.8, 0.95), 1e-7, 0.0, False)
    rms = backend.build(spec, params, OptimizerSpec("rmsprop", lr=0.02, rho=0.7, eps=1e-5)).optimizer
    group = rms.param_groups[0]
    assert isinstance(rms, torch.optim.RMSprop)
    assert (group["lr"], group["alpha"], group["eps"], group["momentum"], group["centered"]) == (
        0.02, 0.7, 1e-5, 0.0, False)
    sgd = backend.build(spec, params, OptimizerSpec("sgd", lr=0.3, momentum=0.6)).optimizer.param_groups[0]
    assert (sgd["lr"], sgd["momentum"], sgd["dampening"], sgd["nesterov"], sgd["weight_decay"]) == (
        0.3, 0.6, 0.0, False, 0.0)


def test_fastest_optimizer_implementation_is_chosen(backend: TorchBackend) -> None:
    spec = make_spec("rnn")
    params = init_params(spec, 0)
    labels = {name: backend.build(spec, params, OptimizerSpec(name, lr=0.1)).optimizer_impl
              for name in ("adam", "rmsprop", "sgd")}
    assert labels == {"adam": "Adam(fused)", "rmsprop": "RMSprop(foreach)", "sgd": "SGD(fused)"}


def test_clipping_limits_the_global_gradient_norm(backend: TorchBackend) -> None:
    """With plain SGD the update is -lr * grad * clip / (norm + 1e-6), as clip_grad_norm_ scales it."""
    spec = make_spec("gru", head="regress", embedded=False, dtype="float64")
    params = init_params(spec, 0)
    x, y = make_batch(spec)
    model = backend.build(spec, params, OptimizerSpec("sgd", lr=0.1, clip_norm=1e-3))
    _, grads = model.loss_and_grads(x, y)
    norm = np.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
    assert norm > 1e-3  # the clip is active
    model.train_step(x, y)
    after = model.get_params()
    step = np.sqrt(sum(float(np.sum((after[k] - params[k]) ** 2)) for k in params))
    assert step == pytest.approx(0.1 * norm * 1e-3 / (norm + 1e-6), rel=1e-9)


def test_train_step_keeps_the_last_loss_on_the_device(backend: TorchBackend) -> None:
    spec = make_spec("lstm", head="classify")
    x, y = make_batch(spec)
    model = backend.build(spec, init_params(spec, 0), ADAM)
    loss, _ = model.loss_and_grads(x, y)
    assert model.last_loss() is None
    model.train_step(x, y)
    assert isinstance(model._last_loss, torch.Tensor) and model._last_loss.ndim == 0
    assert not model._last_loss.requires_grad
    assert model.last_loss() == pytest.approx(loss, rel=1e-6)


def test_set_params_resets_the_optimizer_state(backend: TorchBackend) -> None:
    spec = make_spec("lstm", head="regress", embedded=False)
    params = init_params(spec, 0)
    x, y = make_batch(spec)
    model = backend.build(spec, params, ADAM)
    model.train_step(x, y)
    model.set_params(params)
    model.train_step(x, y)
    fresh = backend.build(spec, params, ADAM)
    fresh.train_step(x, y)
    assert_close(model.get_params(), fresh.get_params(), "float32")


def test_loss_and_grads_and_predict_leave_the_parameters_alone(backend: TorchBackend) -> None:
    spec = make_spec("gru")
    params = init_params(spec, 0)
    x, y = make_batch(spec)
    model = backend.build(spec, params, ADAM)
    model.loss_and_grads(x, y)
    model.predict(x)
    assert all(np.array_equal(v, params[k]) for k, v in model.get_params().items())
    assert all(p.grad is None for p in model.net.parameters())


def test_get_params_returns_copies(backend: TorchBackend) -> None:
    spec = make_spec("rnn")
    model = backend.build(spec, init_params(spec, 0), ADAM)
    model.get_params()["head.b"][:] = 42.0
    assert not np.any(model.get_params()["head.b"] == 42.0)


# ---- devices, settings, runtime info -------------------------------------------

def test_devices_and_unknown_device(backend: TorchBackend) -> None:
    devices = backend.devices()
    assert devices[0] == "cpu" and all(d.startswith("gpu:") for d in devices[1:])
    spec = make_spec()
    with pytest.raises(UsageError, match=r"Unknown device 'gpu:7'.*Accepted: cpu"):
        backend.build(spec, init_params(spec, 0), ADAM, device="gpu:7")


def test_versions_report_the_installed_torch(backend: TorchBackend) -> None:
    assert backend.versions() == {"torch": torch.__version__}


@pytest.mark.usefixtures("restore_torch_settings")
def test_configure_sets_threads_and_flushes_denormals(backend: TorchBackend) -> None:
    applied = backend.configure(ParitySettings(threads=1, flush_denormals=True))
    assert torch.get_num_threads() == 1 and applied["threads"] == "1"
    assert all(isinstance(v, str) for v in applied.values())
    assert {"compile", "fused_kernel", "denormals", "fp32_precision"} <= set(applied)
    tiny = torch.tensor([1e-30], dtype=torch.float32) * 1e-10  # 1e-40 is a float32 denormal
    assert (tiny.item() == 0.0) == (applied["flush_denormals"] == "True")
    backend.configure(ParitySettings(threads=1, flush_denormals=False))
    assert (torch.tensor([1e-30], dtype=torch.float32) * 1e-10).item() != 0.0


@pytest.mark.parametrize(("cell", "dtype", "kernel"), [
    ("lstm", "float32", "oneDNN fused kernel"),
    ("lstm", "float64", "ATen native cell loop"),
    ("gru", "float32", "ATen native cell loop"),
    ("rnn", "float32", "ATen native cell loop"),
])
def test_runtime_info_names_the_cpu_kernel_that_ran(backend: TorchBackend, cell: str, dtype: str,
                                                    kernel: str) -> None:
    if kernel.startswith("oneDNN") and not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN (mkldnn)")
    spec = make_spec(cell, dtype=dtype)
    info = backend.build(spec, init_params(spec, 0), ADAM).runtime_info()
    assert info.kernel_path.startswith(f"torch nn.{cell.upper()}, {kernel}")
    assert info.settings["optimizer"] == "Adam(fused)" and info.settings["device"] == "cpu"


def test_cpu_model_has_no_device_memory(backend: TorchBackend) -> None:
    spec = make_spec()
    model = backend.build(spec, init_params(spec, 0), ADAM)
    model.synchronize()
    assert model.device_memory() is None


# ---- implementations -----------------------------------------------------------

def test_the_loop_has_the_parameters_of_the_nn_layer() -> None:
    spec = make_spec("gru", layers=2)
    fused, loop = RnnNet(spec), RnnNet(spec, loop=True)
    assert {n: p.shape for n, p in loop.named_parameters()} == {n: p.shape for n, p in fused.named_parameters()}
    assert set(canonical_names(spec).values()) == {n for n, _ in loop.named_parameters()}


@pytest.mark.parametrize(("implementation", "path", "compile"), [
    ("loop", "torch step loop in Python (lstm cell), eager autograd (cpu, float64)", "eager (no torch.compile)"),
    ("compiled", "torch.compile (inductor) of the torch step loop (lstm cell) (cpu, float64)", "torch.compile("),
])
def test_the_loop_implementations_report_what_runs(implementation: str, path: str, compile: str) -> None:
    backend = TorchBackend()
    if not backend.implementation(implementation).runs_on("cpu"):
        pytest.skip(backend.implementation(implementation).description)
    backend.use_implementation(implementation)
    spec = make_spec("lstm", dtype="float64")
    info = backend.build(spec, init_params(spec, 0), ADAM).runtime_info()  # built, not yet compiled
    assert info.kernel_path == path
    assert info.settings["implementation"] == implementation and info.settings["compile"].startswith(compile)
    assert info.settings["fused_kernel"].startswith("none")


def test_compiled_is_listed_only_where_its_compiler_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "rnnbench-no-such-compiler")
    assert compile_blockers()["cpu"] == "the C++ compiler 'rnnbench-no-such-compiler' is not on PATH"
    backend = TorchBackend()
    compiled = backend.implementation("compiled")
    assert not compiled.runs_on("cpu") and "not on cpu: the C++ compiler" in compiled.description
    backend.use_implementation("compiled")
    spec = make_spec()
    with pytest.raises(UsageError, match=r"'compiled' of backend 'torch' does not run on 'cpu'. Accepted there: "
                                         r"fused, loop"):
        backend.build(spec, init_params(spec, 0), ADAM)


# ---- GPU ---------------------------------------------------------------------

def test_tf32_is_switched_on_for_the_tf32_precision_only_and_refused_on_the_cpu(backend: TorchBackend) -> None:
    from rnnbench.backends.torch_backend.runtime import float32_matmuls

    try:
        assert float32_matmuls(True).startswith("tf32 (TF32 on")
        assert torch.backends.cuda.matmul.fp32_precision == torch.backends.cudnn.rnn.fp32_precision == "tf32"
    finally:
        assert float32_matmuls(False).startswith("ieee (TF32 off")
    assert torch.backends.cuda.matmul.fp32_precision == torch.backends.cudnn.rnn.fp32_precision == "ieee"
    spec = replace(make_spec("lstm"), tf32=True)
    with pytest.raises(UsageError, match=r"^Precision 'tf32' runs on GPUs only, not on 'cpu'"):
        backend.build(spec, init_params(spec, 0), ADAM)


@pytest.mark.gpu
@requires_gpu
def test_gpu_runtime_info_and_memory(backend: TorchBackend) -> None:
    spec = make_spec("gru")
    x, y = make_batch(spec)
    model = backend.build(spec, init_params(spec, 0), ADAM, device="gpu:0")
    model.train_step(x, y)
    model.synchronize()
    memory = model.device_memory()
    assert memory is not None and memory.peak_bytes > 0
    assert memory.source == "torch.cuda.max_memory_allocated"
    info = model.runtime_info()
    assert info.kernel_path.startswith("torch nn.GRU, cuDNN")
    assert info.settings["fp32_precision"].startswith("ieee")
    assert torch.backends.cudnn.rnn.fp32_precision == "ieee"


# ---- the streaming step ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif("cpu" in compile_blockers(), reason="torch.compile needs a C++ compiler on the CPU")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inductor's import
def test_the_compiled_streaming_step_compiles_once_per_batch_shape_not_per_call(backend):
    # A streaming service calls step once per token: new values must reuse the compiled graph.
    from torch._dynamo.utils import counters

    spec = make_spec("lstm")
    backend.use_implementation("compiled")
    try:
        model = backend.build(spec, init_params(spec, 0), ADAM)
    finally:
        backend.use_implementation(None)
    out, state = model.step(np.array([1, 2]), zero_state(spec, 2))
    graphs = counters["stats"]["unique_graphs"]
    again, _ = model.step(np.array([3, 4]), state)
    assert counters["stats"]["unique_graphs"] == graphs and not np.allclose(out, again)
    model.step(np.array([1, 2, 3]), zero_state(spec, 3))
    assert counters["stats"]["unique_graphs"] == graphs + 1  # the count does count: a new batch shape compiles
