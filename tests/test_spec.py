"""ModelSpec and OptimizerSpec validation: every rule, with the message it gives."""

from __future__ import annotations

import pytest

from rnnbench.errors import SpecError, UsageError
from rnnbench.spec import ModelSpec, OptimizerSpec


def lm(**overrides):
    fields = dict(cell="lstm", hidden_size=8, head="lm", output_size=10, vocab_size=10, embedding_dim=4)
    return ModelSpec(**(fields | overrides))


def test_valid_specs_describe_their_inputs():
    spec = lm(num_layers=2)
    assert spec.embedded and spec.gates == 4
    assert [spec.layer_input_size(k) for k in (0, 1)] == [4, 8]
    dense = ModelSpec("gru", 6, "regress", 1, input_features=3)
    assert not dense.embedded and dense.gates == 3 and dense.layer_input_size(0) == 3


@pytest.mark.parametrize(("overrides", "message"), [
    ({"cell": "elman"}, "cell='elman' is not valid. Accepted: rnn, lstm, gru"),
    ({"head": "seq2seq"}, "head='seq2seq' is not valid. Accepted: lm, classify, regress"),
    ({"dtype": "float16"}, "dtype='float16' is not valid. Accepted: float32, float64"),
    ({"hidden_size": 0}, "hidden_size=0 is not valid. Accepted: an integer >= 1"),
    ({"num_layers": 1.5}, "num_layers=1.5 is not valid. Accepted: an integer >= 1"),
    ({"output_size": True}, "output_size=True is not valid. Accepted: an integer >= 1"),
    ({"vocab_size": -3, "output_size": -3}, "output_size=-3 is not valid"),
    ({"output_size": 7}, "output_size=7 is not valid for an lm head over a vocabulary of 10. "
                         "Accepted: output_size == vocab_size"),
    ({"input_features": 3}, "input is not valid: give either vocab_size and embedding_dim"),
    ({"embedding_dim": None}, "input is not valid"),
    ({"tf32": True, "dtype": "float64"}, "tf32=True with dtype='float64', autocast=None is not valid. Accepted: "
                                         "tf32 True or False, True only for float32 without autocast"),
    ({"tf32": True, "autocast": "bfloat16"}, "True only for float32 without autocast"),
    ({"tf32": 1}, "tf32=1 with dtype='float32'"),
])
def test_model_spec_rules(overrides, message):
    with pytest.raises(SpecError) as info:
        lm(**overrides)
    assert message in str(info.value)


def test_each_precision_names_its_fields_and_the_reference_computes_the_full_precision():
    from rnnbench.spec import PRECISIONS, precision_fields

    for name in PRECISIONS:
        spec = lm(**precision_fields(name))
        assert spec.precision == name
        assert spec.full_precision().precision == spec.dtype  # no autocast, no TF32
        assert spec.full_precision().cell == spec.cell and spec.full_precision().dtype == spec.dtype
    assert precision_fields("tf32") == {"dtype": "float32", "autocast": None, "tf32": True}


def test_spec_errors_are_usage_errors_and_value_errors():
    with pytest.raises(UsageError):
        lm(cell="x")
    with pytest.raises(ValueError):
        lm(cell="x")


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "adagrad", "lr": 0.1}, "name='adagrad' is not valid. Accepted: adam, rmsprop, sgd"),
    ({"name": "adam", "lr": 0}, "lr=0 is not valid. Accepted: a number > 0"),
    ({"name": "adam", "lr": 0.1, "beta1": 1.0}, "beta1=1.0 is not valid. Accepted: a number in [0.0, 1.0)"),
    ({"name": "adam", "lr": 0.1, "beta2": -0.1}, "beta2=-0.1 is not valid"),
    ({"name": "rmsprop", "lr": 0.1, "rho": 1.5}, "rho=1.5 is not valid"),
    ({"name": "sgd", "lr": 0.1, "momentum": 1.0}, "momentum=1.0 is not valid"),
    ({"name": "adam", "lr": 0.1, "eps": 0.0}, "eps=0.0 is not valid. Accepted: a number > 0"),
    ({"name": "sgd", "lr": 0.1, "clip_norm": 0.0}, "clip_norm=0.0 is not valid. Accepted: a number > 0 or None"),
])
def test_optimizer_spec_rules(fields, message):
    with pytest.raises(SpecError) as info:
        OptimizerSpec(**fields)
    assert message in str(info.value)


def test_specs_are_frozen_values():
    spec = lm()
    with pytest.raises(AttributeError):
        spec.hidden_size = 3  # type: ignore[misc]
    assert spec == lm() and hash(spec) == hash(lm())
