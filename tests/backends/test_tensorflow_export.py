"""The tensorflow backend's export path, "saved-model": a SavedModel saved, loaded back and served from.

Agreement with the NumPy reference on every cell and head is tests/test_implementations.py's job; here,
that the artifact is real and loaded, exported once per parameters (not per call or shape), and listed as
an implementation that does not train.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from rnnbench.backend import InferenceModel, Model  # noqa: E402
from rnnbench.backends.numpy_backend import NumpyBackend  # noqa: E402
from rnnbench.backends.tensorflow_backend import TensorflowBackend  # noqa: E402
from rnnbench.conformance import batch  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.params import init_params, zero_state  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402

NAME = "saved-model"
SGD = OptimizerSpec("sgd", lr=0.1)
# Token ids in, two LSTM layers: the step's state is four named tensors.
SPEC = ModelSpec("lstm", hidden_size=4, head="lm", output_size=5, vocab_size=5, embedding_dim=3, num_layers=2,
                 dtype="float32")


def build(spec: ModelSpec = SPEC, seed: int = 0) -> InferenceModel:
    backend = TensorflowBackend()
    backend.use_implementation(NAME)
    return backend.build(spec, init_params(spec, seed), SGD)


def reference(spec: ModelSpec, seed: int) -> Model:
    return NumpyBackend().build(spec, init_params(spec, seed), SGD)


def test_it_is_listed_last_as_an_export_path_that_does_not_train():
    backend = TensorflowBackend()
    assert backend.implementations()[-1].name == NAME
    assert backend.implementation(NAME).trains is False and backend.trains_with(NAME) is False
    assert backend.implementation(NAME).devices == ("cpu",)
    assert backend.trains_with(None, "cpu", SPEC) is True  # the default still trains


def test_the_model_is_an_inference_model_and_refuses_mixed_precision():
    model = build()
    assert isinstance(model, InferenceModel) and not isinstance(model, Model)
    spec = ModelSpec("gru", hidden_size=4, head="regress", output_size=2, input_features=3,
                     autocast="bfloat16")
    with pytest.raises(UsageError, match="does not export mixed_bfloat16. Accepted: float32, float64"):
        build(spec)


def test_outputs_come_from_the_loaded_saved_model_exported_once_for_every_shape():
    model = build()
    assert model.runtime_info().settings["export"].endswith("predict not exported yet; step not exported yet")
    x, _ = batch(SPEC, seed=1, size=2, steps=3)
    got = model.predict(x)
    artifact = model._artifacts["predict"]
    assert tf.saved_model.contains_saved_model(str(artifact.path)) and (artifact.path / "variables").is_dir()
    assert not isinstance(artifact.loaded, keras.Model) and "step" not in model._artifacts  # each on first use
    assert not [v for v in vars(model).values() if isinstance(v, keras.Model)]  # no eager network left
    np.testing.assert_allclose(got, reference(SPEC, 0).predict(x), rtol=1e-5, atol=1e-6)
    longer, _ = batch(SPEC, seed=2, size=3, steps=5)
    model.predict(longer)  # another batch size and length: batch and time are None in the signature
    model.predict(x)
    assert model._artifacts["predict"] is artifact
    assert "predict exported+saved+loaded in" in model.runtime_info().settings["export"]
    path = artifact.path
    del model, artifact
    gc.collect()
    assert not path.exists()  # the temporary directory lives as long as the model


def test_the_streaming_step_is_its_own_artifact_exported_once():
    model = build()
    out, state = model.step(np.array([1, 2]), zero_state(SPEC, 2))
    artifact = model._artifacts["step"]
    again, state = model.step(np.array([3, 4]), state)
    model.step(np.array([0, 1, 2]), zero_state(SPEC, 3))  # another batch size
    assert model._artifacts["step"] is artifact and "predict" not in model._artifacts
    assert sorted(state) == ["l0.c", "l0.h", "l1.c", "l1.h"] and not np.allclose(out, again)


def test_set_params_exports_again_with_the_new_parameters_and_the_old_directory_goes():
    model = build(seed=0)
    x, _ = batch(SPEC, seed=3)
    model.predict(x)
    old = model._artifacts["predict"].path
    model.set_params(init_params(SPEC, 7))
    gc.collect()
    assert not old.exists()  # the dropped artifact took its directory with it
    np.testing.assert_allclose(model.predict(x), reference(SPEC, 7).predict(x), rtol=1e-5, atol=1e-6)
    params = model.get_params()
    params["head.b"] += 1  # a copy: the model's parameters do not change
    np.testing.assert_array_equal(model.get_params()["head.b"], init_params(SPEC, 7)["head.b"])
