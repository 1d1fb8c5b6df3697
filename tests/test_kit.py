"""The plugin kit: the data contract, the loss of each head, clipping, gate blocks, device names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnbench.backend import canonical_device
from rnnbench.errors import UsageError
from rnnbench.kit import (
    CLIP_EPS,
    check_batch,
    clip_coefficient,
    head_loss,
    model_inputs,
    parse_device,
    reorder_blocks,
)
from rnnbench.manager.options import RunOptions, check_devices
from rnnbench.manager.runner import run
from rnnbench.params import init_params
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import read_records
from rnnbench.spec import ModelSpec, OptimizerSpec

LM = ModelSpec("gru", hidden_size=4, head="lm", output_size=7, vocab_size=7, embedding_dim=3)
DENSE = ModelSpec("lstm", hidden_size=4, head="regress", output_size=2, input_features=3)
CLASSIFY = ModelSpec("rnn", hidden_size=4, head="classify", output_size=1, vocab_size=7, embedding_dim=3)
IDS = np.zeros((3, 4), np.int64)


def installed_backends(registry: Registry) -> list[str]:
    return [backend.name for backend in registry.select_backends(["all"])[0]]


@pytest.mark.parametrize(("spec", "x", "y", "match"), [
    (LM, np.zeros((3, 4, 1), int), IDS, r"Accepted: integer token ids \(B, T\)"),
    (LM, np.full((3, 4), 7), IDS, r"Accepted: ids in \[0, 7\)"),
    (LM, np.full((3, 4), -1), IDS, r"Accepted: ids in \[0, 7\)"),
    (LM, IDS.astype(np.float32), IDS, r"Accepted: integer token ids"),
    (LM, IDS, np.zeros((3, 5), int), r"Accepted: integer classes \(B, T\) = \(3, 4\)"),
    (LM, IDS, np.full((3, 4), 7), r"Accepted: \[0, 7\)"),
    (DENSE, np.zeros((3, 4, 2), np.float32), np.zeros((3, 2), np.float32), r"Accepted: floats \(B, T, 3\)"),
    (DENSE, np.zeros((3, 4, 3), np.float32), np.zeros((3, 1), np.float32), r"Accepted: floats \(B, O\) = \(3, 2\)"),
    (CLASSIFY, IDS, np.full((3, 1), 0.5), "Accepted: 0/1 floats"),
    (LM, np.zeros((0, 4), int), np.zeros((0, 4), int), "at least one sample"),
])
def test_a_batch_off_the_contract_is_one_line_naming_what_is_accepted(spec, x, y, match):
    with pytest.raises(UsageError, match=match):
        check_batch(spec, x, y)


def test_a_batch_of_another_shape_than_the_case_says_is_refused():
    check_batch(LM, IDS, IDS, batch_size=3, seq_len=4)
    with pytest.raises(UsageError, match="batch size 3. Accepted: 8, the case's"):
        check_batch(LM, IDS, IDS, batch_size=8)
    with pytest.raises(UsageError, match="sequence length 4. Accepted: 96"):
        check_batch(LM, IDS, IDS, seq_len=96)


def test_model_inputs_cast_ids_and_floats_by_head():
    x, y = model_inputs(LM, IDS.astype(np.int32), IDS, ids=np.int32)
    assert x.dtype == y.dtype == np.int32
    x, y = model_inputs(DENSE, np.zeros((3, 4, 3)), np.zeros((3, 2)))
    assert x.dtype == y.dtype == np.float32 and x.flags.c_contiguous


def test_head_losses_are_the_documented_functions():
    rng = np.random.default_rng(0)
    logits, classes = rng.standard_normal((2, 3, 7)), rng.integers(0, 7, (2, 3))
    expected = -np.mean([math.log(np.exp(logits[b, t, classes[b, t]]) / np.exp(logits[b, t]).sum())
                         for b in range(2) for t in range(3)])
    assert head_loss(LM, logits, classes) == pytest.approx(expected, rel=1e-12)
    z, t = np.array([[3.0], [-2.0], [800.0]]), np.array([[1.0], [0.0], [0.0]])
    bce = np.mean([-math.log(1 / (1 + math.exp(-3.0))), -math.log(1 - 1 / (1 + math.exp(2.0))), 800.0])
    assert head_loss(CLASSIFY, z, t) == pytest.approx(bce, rel=1e-12)  # finite where exp(800) is not
    assert head_loss(DENSE, np.array([[1.0, 2.0]]), np.array([[0.0, 4.0]])) == pytest.approx(2.5)


@pytest.mark.slow
def test_every_backend_minimises_the_documented_loss_of_each_head(registry):
    for name in installed_backends(registry):
        backend = registry.available_backend(name)
        if not backend.trains:  # an inference runtime has no loss
            continue
        for spec in (LM, DENSE, CLASSIFY):
            spec64 = ModelSpec(**{**spec.__dict__, "dtype": "float64"}) if "float64" in backend.dtypes else spec
            model = backend.build(spec64, init_params(spec64, 1), OptimizerSpec("sgd", lr=0.1))
            rng = np.random.default_rng(2)
            x = (rng.integers(0, 7, (3, 4)) if spec.embedded
                 else rng.standard_normal((3, 4, 3)).astype(spec64.dtype))
            y = (rng.integers(0, 7, (3, 4)) if spec.head == "lm" else
                 rng.integers(0, 2, (3, spec.output_size)).astype(spec64.dtype))
            loss, _ = model.loss_and_grads(x, y)
            rel = 1e-9 if spec64.dtype == "float64" else 1e-5
            assert loss == pytest.approx(head_loss(spec64, model.predict(x), y), rel=rel), (name, spec.head)


def test_clip_coefficient_is_torchs_rule_for_any_array_library():
    assert clip_coefficient(10.0, 5.0) == pytest.approx(5.0 / (10.0 + CLIP_EPS))
    assert clip_coefficient(1.0, 5.0) == 1.0
    assert np.allclose(clip_coefficient(np.array([10.0, 1.0]), 5.0, np.minimum), [5.0 / (10.0 + 1e-6), 1.0])


def test_reorder_blocks_permutes_gate_blocks_and_back():
    a = np.arange(12).reshape(6, 2)  # three blocks of two rows
    swapped = reorder_blocks(a, (1, 0, 2), axis=0)
    assert swapped[:2].tolist() == a[2:4].tolist() and swapped[4:].tolist() == a[4:].tolist()
    assert np.array_equal(reorder_blocks(swapped, (1, 0, 2), axis=0), a)


def test_device_names_are_one_vocabulary():
    assert parse_device("cpu") == ("cpu", 0) and parse_device("gpu:3") == ("gpu", 3)
    for bad in ("cuda:0", "gpu", "gpu:x", "tpu", "GPU:0"):
        with pytest.raises(UsageError, match="Accepted: cpu, gpu:N"):
            parse_device(bad)
    assert canonical_device("cuda:1") == canonical_device("GPU:1") == "gpu:1"
    assert RunOptions(devices=("cuda:0", "cpu")).devices == ("gpu:0", "cpu")
    with pytest.raises(UsageError, match="device='tpu' is not valid. Accepted: cpu, gpu, gpu:N, all"):
        RunOptions(devices=("tpu",))


def test_a_device_no_selected_backend_has_is_an_error_listing_what_exists():
    here = {"numpy": ["cpu"], "torch": ["cpu", "gpu:0"]}
    check_devices(("cpu", "gpu", "gpu:0", "all"), here)
    with pytest.raises(UsageError, match=r"No selected backend has device 'gpu:1' here. "
                                         r"Available: numpy: cpu; torch: cpu, gpu:0"):
        check_devices(("gpu:1",), here)
    with pytest.raises(UsageError, match="No selected backend has a GPU here"):
        check_devices(("gpu",), {"numpy": ["cpu"]})


@pytest.mark.slow
def test_the_core_checks_each_case_s_batches_before_any_backend_sees_them(install_fake_plugin, tmp_path):
    install_fake_plugin("off_contract", "off_contract")  # a task whose batches hold an id past the vocabulary
    with_task = Registry(make_plugin_manager())
    backends = tuple(installed_backends(with_task))
    options = RunOptions(backends=backends, tasks=("off_contract",), cells=("gru",), modes=("throughput",),
                         profile="smoke", synthetic=True, hidden_sizes=(8,), threads=1, check=False)
    records = list(read_records(run(options, tmp_path, registry=with_task, quiet=True).run_dir))
    assert sorted(r["backend"] for r in records) == sorted(backends)
    for record in records:  # every backend stopped by the same line, before anything was measured
        assert record["status"] == "failed", record["backend"]
        assert record["error"] == "UsageError: x holds token ids in [0, 65]. Accepted: ids in [0, 65)"
        assert record["throughput"] is None
