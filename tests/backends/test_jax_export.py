"""The jax backend's "exported" implementation: jax.export artifacts, serialised, loaded back, inference only.

Its outputs and streamed steps against the NumPy reference are checked by
tests/test_implementations.py (parametrised from ``implementations()``);
this file tests what only the export path has: it does not train, only the
deserialised artifact computes, it exports once and compiles once per shape,
and new parameters need no new export. Shapes are tiny: each export and each
compile costs a fraction of a second.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("optax")

from rnnbench.backend import InferenceModel, Model  # noqa: E402
from rnnbench.backends.jax_backend import JaxBackend  # noqa: E402
from rnnbench.backends.jax_backend import export as jax_export  # noqa: E402
from rnnbench.backends.jax_backend import net as jax_net  # noqa: E402
from rnnbench.backends.numpy_backend import NumpyBackend  # noqa: E402
from rnnbench.case import Case  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.params import init_params, zero_state  # noqa: E402
from rnnbench.plugins import make_plugin_manager  # noqa: E402
from rnnbench.plugins.registry import Registry  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402
from rnnbench.worker.main import run_case  # noqa: E402

NAME = "exported"
SGD = OptimizerSpec("sgd", lr=0.1)  # unused by an export path; build's signature asks for one
LM = ModelSpec("lstm", hidden_size=4, head="lm", output_size=7, num_layers=2, vocab_size=7, embedding_dim=3)


def _exported(spec: ModelSpec, seed: int = 0) -> InferenceModel:
    backend = JaxBackend()
    backend.use_implementation(NAME)
    return backend.build(spec, init_params(spec, seed), SGD)


def _ids(batch: int, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, LM.vocab_size, (batch, steps))  # type: ignore[arg-type]


def _streamed(model: InferenceModel, x: np.ndarray) -> np.ndarray:
    """The last step's output after streaming every step of ``x`` from the zero state."""
    state = zero_state(LM, len(x))
    for t in range(x.shape[1]):
        out, state = model.step(x[:, t], state)
    return out


def test_exported_is_listed_last_runs_on_the_cpu_and_does_not_train() -> None:
    backend = JaxBackend()
    exported = backend.implementations()[-1]
    assert (exported.name, exported.devices) == (NAME, ("cpu",))
    assert backend.implementation(NAME).trains is False
    assert backend.trains_with(NAME) is False
    assert backend.trains_with(None) is True and backend.default_implementation("cpu") != NAME


def test_build_returns_an_inference_model_that_exports_on_first_use() -> None:
    model = _exported(LM)
    assert isinstance(model, InferenceModel) and not isinstance(model, Model)
    assert model._artifacts == {}  # nothing exported at build: the first call carries the cost
    model.predict(_ids(2, 3))
    assert list(model._artifacts) == ["predict"]
    info = model.runtime_info()
    assert info.kernel_path == ("jax.export (StableHLO, serialised) of the jax scan network, deserialised and "
                                "called (cpu, float32)")
    assert info.settings["implementation"] == NAME
    assert "jax.export.export" in info.settings["export"] and " s (" in info.settings["export"]


def test_the_refused_precisions_are_named_with_the_accepted_ones() -> None:
    spec = ModelSpec("gru", hidden_size=4, head="regress", output_size=2, input_features=3, autocast="bfloat16")
    with pytest.raises(UsageError, match=r"does not compute mixed_bfloat16\. Accepted: float32, float64"):
        _exported(spec)


def test_only_the_deserialised_artifacts_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _exported(LM)
    x = _ids(3, 5)
    want = NumpyBackend().build(LM, init_params(LM, 0), SGD)
    model.predict(x[:1, :2]), model.step(x[:1, 0], zero_state(LM, 1))  # export both, at other shapes
    for artifact in model._artifacts.values():
        assert isinstance(artifact.serialized, bytes) and artifact.serialized
        assert isinstance(artifact.loaded, jax.export.Exported) and artifact.loaded.platforms == ("cpu",)
    # From here on the network's code cannot run: the symbolic batch and time serve these new shapes.
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was traced again")
    monkeypatch.setattr(jax_net, "run_layer", no_network)
    monkeypatch.setattr(jax_export, "inference_functions", no_network)
    np.testing.assert_allclose(model.predict(x), want.predict(x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(_streamed(model, x), _streamed(want, x), rtol=1e-4, atol=1e-6)


def test_a_second_call_of_the_same_shape_neither_exports_nor_compiles_again() -> None:
    model = _exported(LM)
    x = _ids(2, 3)
    first = model.predict(x)
    predict = model._artifacts["predict"]
    again = model.predict(_ids(2, 3, seed=1))
    assert model._artifacts["predict"] is predict and predict.call._cache_size() == 1
    assert not np.allclose(first, again)  # new values, the same program
    out, state = model.step(x[:, 0], zero_state(LM, 2))
    model.step(x[:, 1], state)
    assert model._artifacts["step"].call._cache_size() == 1
    model.predict(_ids(3, 4))
    assert model._artifacts["predict"] is predict and predict.call._cache_size() == 2  # a new shape compiles


def test_set_params_gives_the_references_outputs_for_the_new_parameters_without_exporting_again() -> None:
    model = _exported(LM)
    x = _ids(2, 3)
    before = model.predict(x)
    predict = model._artifacts["predict"]
    params = init_params(LM, 1)
    model.set_params(params)
    got = model.get_params()
    for name, value in params.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    want = NumpyBackend().build(LM, params, SGD).predict(x)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-4, atol=1e-6)
    assert not np.allclose(before, want)
    assert model._artifacts["predict"] is predict and predict.call._cache_size() == 1


def test_a_worker_records_the_artifacts_its_first_calls_made() -> None:
    """runtime.settings is read again after the mode: what jax's export path made is known only then."""
    case = Case(backend="jax", task="airline", cell="gru", device="cpu", mode="latency", profile="smoke",
                implementation="exported", hidden_size=8, latency_calls=20)
    doc = run_case(case, Registry(make_plugin_manager(load_entry_points=False)))
    assert doc["status"] == "ok", doc["error"]
    assert doc["implementation"] == {"name": "exported", "default": False}
    export = doc["runtime"]["settings"]["export"]
    assert re.search(r"exported\+serialised\+loaded: predict \d+\.\d+ s \(\d+ bytes\), step \d+\.\d+ s", export), \
        export
