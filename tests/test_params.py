"""The canonical layout and deterministic initialisation."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rnnbench.errors import SpecError
from rnnbench.params import check_params, copy_params, init_params, param_shapes
from rnnbench.spec import ModelSpec

SPEC = ModelSpec("lstm", hidden_size=4, head="lm", output_size=6, num_layers=2, vocab_size=6, embedding_dim=3)


def test_layout_names_and_shapes_follow_the_documented_table():
    assert param_shapes(SPEC) == {
        "embedding": (6, 3),
        "l0.w_ih": (16, 3), "l0.w_hh": (16, 4), "l0.b_ih": (16,), "l0.b_hh": (16,),
        "l1.w_ih": (16, 4), "l1.w_hh": (16, 4), "l1.b_ih": (16,), "l1.b_hh": (16,),
        "head.w": (6, 4), "head.b": (6,),
    }


def test_dense_gru_has_no_embedding_and_three_gate_blocks():
    shapes = param_shapes(ModelSpec("gru", 5, "regress", 2, input_features=7))
    assert "embedding" not in shapes
    assert shapes["l0.w_ih"] == (15, 7) and shapes["head.w"] == (2, 5)


def test_init_is_deterministic_and_seed_dependent():
    a, b, c = init_params(SPEC, 7), init_params(SPEC, 7), init_params(SPEC, 8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["l0.w_hh"], c["l0.w_hh"])


def test_init_is_bit_identical_across_machines():
    # PCG64 and Generator.uniform/standard_normal are platform independent, so
    # this digest, computed once, must hold on every machine and NumPy >= 1.24.
    params = init_params(ModelSpec("gru", 3, "classify", 1, vocab_size=4, embedding_dim=2, dtype="float64"), 0)
    digest = hashlib.sha256(b"".join(params[k].tobytes() for k in sorted(params))).hexdigest()
    assert digest == "f7e9854d39b859f1019bafbbbde1cb61eb1f0e5540521fe02c047081b421afe7"


def test_init_follows_pytorch_distributions():
    params = init_params(ModelSpec("rnn", 400, "regress", 1, input_features=2), 0)
    bound = 1 / np.sqrt(400)
    assert np.abs(params["l0.w_hh"]).max() <= bound
    assert np.abs(params["l0.w_hh"]).max() > 0.99 * bound
    assert params["l0.w_hh"].dtype == np.float32


def test_check_params_names_what_is_wrong():
    params = init_params(SPEC, 0)
    del params["head.b"]
    with pytest.raises(SpecError, match=r"missing \['head.b'\], unexpected \[\]"):
        check_params(SPEC, params)
    params = init_params(SPEC, 0)
    params["l1.w_hh"] = params["l1.w_hh"][:, :3]
    with pytest.raises(SpecError, match=r"parameter 'l1.w_hh' has shape \(16, 3\). Accepted: \(16, 4\)"):
        check_params(SPEC, params)


def test_copy_params_never_shares_buffers():
    params = init_params(SPEC, 0)
    copied = copy_params(params, "float64")
    copied["head.b"][0] = 99.0
    assert params["head.b"][0] != 99.0 and copied["head.b"].dtype == np.float64
