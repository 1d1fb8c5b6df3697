"""TensorFlow/Keras-specific tests: layout conversion, Keras' own forward, the torch
update rules, devices and settings. Generic agreement with the NumPy reference is
tests/test_conformance.py's job."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.numpy_backend import NumpyBackend  # noqa: E402
from rnnbench.backends.tensorflow_backend import TensorflowBackend  # noqa: E402
from rnnbench.backends.tensorflow_backend.layout import from_keras, to_keras  # noqa: E402
from rnnbench.backends.tensorflow_backend.model import TensorflowModel, build_network  # noqa: E402
from rnnbench.conformance import batch  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.params import init_params, zero_state  # noqa: E402
from rnnbench.spec import CELLS, ModelSpec, OptimizerSpec  # noqa: E402

SGD = OptimizerSpec("sgd", lr=0.1)
HAS_GPU = bool(tf.config.list_physical_devices("GPU"))
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no GPU visible to TensorFlow")


def tiny_spec(cell: str, head: str = "lm", dtype: str = "float64", layers: int = 2) -> ModelSpec:
    if head == "regress":
        return ModelSpec(cell, hidden_size=4, head=head, output_size=2, input_features=3, num_layers=layers,
                         dtype=dtype)
    output = 7 if head == "lm" else 2
    return ModelSpec(cell, hidden_size=4, head=head, output_size=output, vocab_size=7, embedding_dim=3,
                     num_layers=layers, dtype=dtype)


@pytest.fixture(scope="module")
def backend() -> TensorflowBackend:
    return TensorflowBackend()


# --- layout conversion ---------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_keras_weights_have_the_shapes_keras_builds(cell):
    spec = tiny_spec(cell)
    net = build_network(spec, use_cudnn=False)
    converted = to_keras(spec, init_params(spec, 0))
    assert [[w.shape for w in ws] for ws in converted] == [[tuple(w.shape) for w in layer.weights]
                                                           for layer in net.layers]


def test_gru_gates_go_from_r_z_n_to_keras_z_r_h():
    spec = tiny_spec("gru", layers=1)
    params = init_params(spec, 0)
    for name, tag in (("l0.w_ih", 0), ("l0.w_hh", 10), ("l0.b_ih", 20), ("l0.b_hh", 30)):
        blocks = [np.full_like(b, tag + g) for g, b in enumerate(np.split(params[name], 3))]  # r=0, z=1, n=2
        params[name] = np.concatenate(blocks)
    kernel, recurrent, bias = to_keras(spec, params)[1]
    assert [b[0, 0] for b in np.split(kernel, 3, axis=1)] == [1, 0, 2]  # z, r, h
    assert [b[0, 0] for b in np.split(recurrent, 3, axis=1)] == [11, 10, 12]
    assert bias.shape == (2, 12)
    assert [b[0] for b in np.split(bias[0], 3)] == [21, 20, 22]  # input bias
    assert [b[0] for b in np.split(bias[1], 3)] == [31, 30, 32]  # recurrent bias


@pytest.mark.parametrize("cell", CELLS)
def test_canonical_to_keras_and_back(cell):
    spec = tiny_spec(cell)
    params = init_params(spec, 1)
    back = from_keras(spec, to_keras(spec, params))
    assert back.keys() == params.keys()
    for name, value in params.items():
        if cell != "gru" and name.endswith(".b_ih"):  # one Keras bias: the sum comes back as (sum, 0)
            hh = name.replace("b_ih", "b_hh")
            np.testing.assert_array_equal(back[name], value + params[hh])
            np.testing.assert_array_equal(back[hh], 0)
        elif not (cell != "gru" and name.endswith(".b_hh")):
            np.testing.assert_array_equal(back[name], value)


@pytest.mark.parametrize("cell", CELLS)
def test_keras_to_canonical_and_back_is_exact(cell):
    spec = tiny_spec(cell)
    keras_weights = to_keras(spec, init_params(spec, 2))
    again = to_keras(spec, from_keras(spec, keras_weights))
    for a, b in zip(sum(again, []), sum(keras_weights, []), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_single_bias_gradient_is_the_gradient_of_both_canonical_biases():
    spec = tiny_spec("lstm", layers=1)
    grads = from_keras(spec, to_keras(spec, init_params(spec, 0)), gradient=True)
    np.testing.assert_array_equal(grads["l0.b_ih"], grads["l0.b_hh"])


@pytest.mark.parametrize("head", ["lm", "classify", "regress"])
@pytest.mark.parametrize("cell", CELLS)
def test_keras_own_forward_equals_the_reference_on_converted_weights(cell, head):
    spec = tiny_spec(cell, head)
    params = init_params(spec, 3)
    x, _ = batch(spec, seed=4)
    net = build_network(spec, use_cudnn=False)
    for layer, weights in zip(net.layers, to_keras(spec, params), strict=True):
        layer.set_weights(weights)
    want = NumpyBackend().build(spec, params, SGD).predict(x)
    # net(x), not net.predict(x): predict's data adapter casts float64 input to float32 (keras floatx)
    np.testing.assert_allclose(net(tf.constant(x)).numpy(), want, rtol=1e-10, atol=1e-12)


# --- the model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lstm_model(backend) -> TensorflowModel:
    spec = tiny_spec("lstm", "classify")
    return backend.build(spec, init_params(spec, 5), OptimizerSpec("adam", lr=1e-2, clip_norm=0.5))


def test_get_params_returns_what_set_params_loaded_exactly(lstm_model):
    params = init_params(lstm_model.spec, 6)
    lstm_model.set_params(params)
    got = lstm_model.get_params()
    for name, value in params.items():
        np.testing.assert_array_equal(got[name], value)
        assert got[name].dtype == np.float64


@pytest.mark.slow
def test_the_canonical_bias_pair_trains_like_the_reference_and_keras_holds_its_sum(lstm_model):
    spec = lstm_model.spec
    params = init_params(spec, 7)
    x, y = batch(spec, seed=7)
    lstm_model.set_params(params)
    reference = NumpyBackend().build(spec, params, OptimizerSpec("adam", lr=1e-2, clip_norm=0.5))
    for model in (lstm_model, reference):
        model.train_step(x, y)
        model.train_step(x, y)
    got, want = lstm_model.get_params(), reference.get_params()
    for name in ("l0.b_ih", "l0.b_hh", "l1.b_ih", "l1.b_hh"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14)
    keras_bias = lstm_model.net.layers[1].cell.bias.numpy()
    np.testing.assert_allclose(keras_bias, got["l0.b_ih"] + got["l0.b_hh"], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_eps_is_placed_as_torch_places_it_not_as_keras(name):
    # With gradients of the size of eps, where eps sits decides the step; Keras' own optimisers
    # (eps before bias correction in Adam, inside the sqrt in RMSprop) would be far off here.
    spec = tiny_spec("rnn", "regress", layers=1)
    params = init_params(spec, 8)
    x, y = batch(spec, seed=8)
    optimizer = OptimizerSpec(name, lr=1e-3, eps=1e-3)
    got = TensorflowBackend().build(spec, params, optimizer)
    want = NumpyBackend().build(spec, params, optimizer)
    for model in (got, want):
        model.train_step(x, y)
    got_params, want_params = got.get_params(), want.get_params()
    for key, value in want_params.items():
        np.testing.assert_allclose(got_params[key], value, rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outputs_and_parameters_keep_the_spec_dtype(backend, dtype):
    spec = tiny_spec("gru", "lm", dtype=dtype, layers=1)
    model = backend.build(spec, init_params(spec, 0), SGD)
    x, y = batch(spec)
    model.train_step(x, y)
    model.synchronize()
    assert model.predict(x).dtype == np.dtype(dtype)
    assert model.predict(x).shape == (x.shape[0], x.shape[1], spec.output_size)
    assert {v.dtype for v in model.get_params().values()} == {np.dtype(dtype)}


# --- devices, settings, versions -----------------------------------------------------


def test_devices_start_with_the_cpu(backend):
    devices = backend.devices()
    assert devices[0] == "cpu"
    assert devices[1:] == [f"gpu:{i}" for i in range(len(devices) - 1)]


@pytest.mark.parametrize("device", ["cuda:0", "gpu:99", "CPU"])
def test_an_unknown_device_is_a_usage_error_listing_the_accepted_ones(backend, device):
    spec = tiny_spec("rnn", layers=1)
    with pytest.raises(UsageError, match=f"{device!r}.*Accepted: cpu"):
        backend.build(spec, init_params(spec, 0), SGD, device=device)


def test_cpu_model_reports_no_device_memory_and_its_kernel_path(lstm_model):
    assert lstm_model.device_memory() is None
    info = lstm_model.runtime_info()
    assert info.kernel_path.startswith("keras LSTM in tf.function")
    assert info.settings["device"] == "cpu"
    assert info.settings["jit_compile"] == str(lstm_model.jit_compile)
    assert info.settings["cudnn"] == "False"


def test_versions_name_the_installed_tensorflow_distribution_and_keras(backend):
    versions = backend.versions()
    assert versions["keras"] == keras.__version__
    tf_versions = {v for k, v in versions.items() if k != "keras"}
    assert tf_versions == {tf.__version__}


def test_an_unchangeable_thread_count_is_refused_not_ignored(backend):
    tf.constant(1.0) + 1.0  # TensorFlow has started; the pools are fixed now
    current = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.raises(UsageError, match="already started"):
        backend.configure(ParitySettings(threads=current + 3))


CONFIGURE_PROBE = """
import json
from rnnbench.backend import ParitySettings
from rnnbench.backends.tensorflow_backend import TensorflowBackend
applied = TensorflowBackend().configure(ParitySettings(threads=1))
import tensorflow as tf
t = tf.config.threading
print(json.dumps({"applied": applied, "intra": t.get_intra_op_parallelism_threads(),
                  "inter": t.get_inter_op_parallelism_threads(), "ftz": float(tf.constant(1e-30) * 1e-10)}))
"""


@pytest.mark.slow
def test_configure_sets_the_thread_pools_in_a_fresh_process():
    done = subprocess.run([sys.executable, "-c", CONFIGURE_PROBE], capture_output=True, text=True,
                          timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["intra"], result["inter"]) == (1, 1)
    assert result["applied"]["intra_op_threads"] == result["applied"]["inter_op_threads"] == "1"
    assert result["ftz"] == 0.0 and result["applied"]["denormals"].startswith("flushed to zero")
    assert {"xla", "fused_kernel"} <= result["applied"].keys()


# --- GPU -----------------------------------------------------------------------------


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("cell", CELLS)
def test_gpu_model_matches_the_cpu_model_and_reports_its_kernel(backend, cell):
    spec = tiny_spec(cell, "lm", dtype="float32")
    params = init_params(spec, 9)
    x, y = batch(spec, seed=9)
    optimizer = OptimizerSpec("sgd", lr=0.1, momentum=0.9, clip_norm=0.5)  # linear in g: no sign flips
    cpu = backend.build(spec, params, optimizer)
    gpu = backend.build(spec, params, optimizer, device="gpu:0")
    np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), rtol=1e-4, atol=1e-5)
    for model in (cpu, gpu):
        model.train_step(x, y)
        model.synchronize()
    for name, value in cpu.get_params().items():
        np.testing.assert_allclose(gpu.get_params()[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
    assert gpu.device_memory().peak_bytes > 0
    assert ("cuDNN" in gpu.runtime_info().kernel_path) == (cell != "rnn")
    assert all(tf.config.experimental.get_memory_growth(g) for g in tf.config.list_physical_devices("GPU"))
    assert gpu.runtime_info().settings["tf32"] == "off"


# --- implementations -----------------------------------------------------------------


@pytest.mark.parametrize(("cell", "hidden", "device", "default"), [
    ("lstm", 64, "cpu", "xla"), ("lstm", 65, "cpu", "graph"), ("gru", 512, "cpu", "graph"),
    ("rnn", 512, "gpu:0", "xla"), ("lstm", 8, "gpu:0", "graph"), ("gru", 8, "gpu:1", "graph"),
])
def test_the_default_is_the_measured_xla_rule(cell, hidden, device, default):
    spec = ModelSpec(cell, hidden_size=hidden, head="regress", output_size=1, input_features=2)
    assert TensorflowBackend().default_implementation(device, spec) == default


def test_without_a_spec_the_default_is_graph_and_the_rule_says_when_xla_runs():
    backend = TensorflowBackend()
    assert backend.default_implementation("cpu") == backend.default_implementation("gpu:0") == "graph"
    assert backend.default_rule("cpu") == "xla when hidden_size <= 64, else graph"
    assert backend.default_rule("gpu").startswith("xla for rnn")


@pytest.mark.parametrize("cell", CELLS)
def test_the_hoisted_layer_has_the_weights_of_the_keras_layer(cell):
    spec = tiny_spec(cell)
    keras_net, hoisted_net = build_network(spec, use_cudnn=False), build_network(spec, False, hoisted=True)
    assert [[tuple(w.shape) for w in layer.weights] for layer in hoisted_net.layers] == [
        [tuple(w.shape) for w in layer.weights] for layer in keras_net.layers]


@pytest.mark.parametrize(("implementation", "jit", "path"), [
    ("graph", "False", "keras LSTM in tf.function, tf.while_loop, TF graph executor"),
    ("xla", "True", "keras LSTM in tf.function, tf.while_loop, XLA CPU"),
    ("hoisted", "False", "hoisted lstm layer (Keras weights) in tf.function, input projection before the loop, "
                         "tf.scan, TF graph executor"),
])
def test_each_implementation_reports_what_runs(implementation, jit, path):
    backend = TensorflowBackend()
    backend.use_implementation(implementation)
    spec = tiny_spec("lstm", "classify", layers=1)
    info = backend.build(spec, init_params(spec, 0), SGD).runtime_info()
    assert (info.kernel_path, info.settings["jit_compile"], info.settings["implementation"]) == (
        path, jit, implementation)


# --- the streaming step ----------------------------------------------------------------


@pytest.mark.parametrize("implementation", ("graph", "xla", "hoisted"))
def test_the_streaming_step_traces_once_per_batch_shape_not_per_call(implementation):
    # A streaming service calls step once per token: new values must reuse the traced function.
    spec = tiny_spec("lstm", dtype="float32")
    backend = TensorflowBackend()
    backend.use_implementation(implementation)
    model = backend.build(spec, init_params(spec, 0), SGD)
    out, state = model.step(np.array([1, 2]), zero_state(spec, 2))
    again, _ = model.step(np.array([3, 4]), state)
    assert model._step.experimental_get_tracing_count() == 1 and not np.allclose(out, again)
    model.step(np.array([1, 2, 3]), zero_state(spec, 3))
    assert model._step.experimental_get_tracing_count() == 2  # the count does count: a new batch shape traces
