"""The worker's modes in-process on the NumPy reference: the document each mode writes.

Every case is tiny (smoke profile, hidden size 8, batches of 4 x 5 where
the shape may be overridden), so each test takes well under a second. A
"poison" task, the airline task with NaN inputs, makes training go
non-finite for real.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rnnbench import hookimpl
from rnnbench.case import Case
from rnnbench.document import KEYS
from rnnbench.flops import forward_flops, train_step_flops
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.spec import ModelSpec
from rnnbench.task import Batch, Budget, Task
from rnnbench.tasks.airline import AirlineTask
from rnnbench.worker.main import empty_document, prepare, run_case
from rnnbench.worker.modes import capped_budget, throughput


class PoisonTask(AirlineTask):
    """The airline task whose training inputs are NaN: any training goes non-finite."""

    name = "poison"

    def train_batches(self, seed: int) -> Iterator[Batch]:
        for x, y in super().train_batches(seed):
            yield np.full_like(x, np.nan), y


class PoisonPlugin:
    @hookimpl
    def rnnbench_register_tasks(self) -> list[type[Task]]:
        return [PoisonTask]


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The built-in backends and tasks, and the poison task."""
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(PoisonPlugin(), name="poison-plugin")
    return Registry(pm)


def small_case(mode: str, **changes: Any) -> Case:
    fields: dict[str, Any] = dict(backend="numpy", task="char_rnn", cell="lstm", device="cpu", mode=mode,
                                  profile="smoke", synthetic=True, hidden_size=8, batch_size=4, seq_len=5,
                                  warmup=2, steps=3, memory_steps=2)
    return Case(**(fields | changes))


def strict_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The document after a strict JSON round trip (no NaN, no numpy types)."""
    return json.loads(json.dumps(doc, allow_nan=False))


def check_common(doc: dict[str, Any], case: Case) -> None:
    assert tuple(doc) == KEYS and doc == strict_json(doc)
    assert doc["batch"] == {"batch_size": 4, "seq_len": 5}
    assert doc["items"] == {"samples_per_step": 4, "tokens_per_step": 20}
    assert doc["spec"]["hidden_size"] == 8 and doc["spec"]["cell"] == case.cell
    assert doc["versions"]["numpy"] == np.__version__
    assert doc["runtime"]["kernel_path"].startswith("numpy")
    assert doc["runtime"]["settings"]["threads"].startswith("BLAS threads")
    assert doc["worker_seconds"] > 0


# ---- throughput ------------------------------------------------------------------------------


def test_throughput_document(registry: Registry) -> None:
    case = small_case("throughput")
    doc = run_case(case, registry)
    assert doc["status"] == "ok" and doc["error"] is None and doc["traceback"] is None, doc["error"]
    check_common(doc, case)
    assert doc["memory"] is None and doc["accuracy"] is None
    spec = ModelSpec(**doc["spec"])
    spec_flops = {"train_step": train_step_flops(spec, 4, 5), "forward": forward_flops(spec, 4, 5)}
    assert doc["flops"] == spec_flops
    for kind, flops in (("train", spec_flops["train_step"]), ("infer", spec_flops["forward"])):
        block = doc["throughput"][kind]
        total = sum(block["samples_s"])
        assert len(block["samples_s"]) == 3 and block["summary"]["n"] == 3 and block["first_step_s"] > 0
        assert block["summary"]["median"] == pytest.approx(float(np.median(block["samples_s"])))
        assert block["samples_per_s"] == pytest.approx(4 * 3 / total)
        assert block["tokens_per_s"] == pytest.approx(20 * 3 / total)
        assert block["gflops"] == pytest.approx(flops * 3 / total / 1e9)
        assert isinstance(block["unstable"], bool)
    last_loss = doc["throughput"]["train"]["last_loss"]  # read after timing, never inside it
    assert isinstance(last_loss, float) and np.isfinite(last_loss)


def test_non_finite_parameters_give_status_nan_and_keep_the_timings(registry: Registry) -> None:
    case = small_case("throughput")
    doc = empty_document()
    setup = prepare(case, registry, {}, doc)
    assert setup.model is not None
    params = setup.model.get_params()
    params["head.w"][0, 0] = np.nan
    setup.model.set_params(params)
    result = throughput(setup)
    assert result.status == "nan" and "non-finite" in (result.error or "")
    assert len(result.sections["throughput"]["train"]["samples_s"]) == 3


def test_nan_inputs_give_status_nan_through_run_case(registry: Registry) -> None:
    doc = run_case(small_case("throughput", task="poison", batch_size=None, seq_len=None), registry)
    assert doc["status"] == "nan" and doc["traceback"] is None
    assert doc["throughput"]["train"]["summary"]["n"] == 3


# ---- memory ----------------------------------------------------------------------------------


def test_memory_document(registry: Registry) -> None:
    case = small_case("memory")
    doc = run_case(case, registry)
    assert doc["status"] == "ok", doc["error"]
    check_common(doc, case)
    mem = doc["memory"]
    assert doc["throughput"] is None and doc["accuracy"] is None
    assert mem["baseline_rss_bytes"] > 10 * 2 ** 20  # a Python process with numpy loaded
    assert mem["peak_rss_bytes"] == mem["baseline_rss_bytes"] + mem["peak_above_baseline_bytes"]
    assert mem["peak_above_baseline_bytes"] == max(mem["first_step_peak_above_baseline_bytes"],
                                                   mem["steady_peak_above_baseline_bytes"])
    assert mem["steps"] == 3 and mem["samples"] >= 2 and mem["interval_s"] == 0.002
    assert mem["device"] is None  # on the host


@pytest.mark.slow
def test_memory_sees_a_large_first_step_allocation(registry: Registry) -> None:
    """NumPy allocates its workspace on the first step: the LSTM gates alone are (T, B, 4H) = 32 MiB here."""
    doc = run_case(small_case("memory", hidden_size=256, batch_size=64, seq_len=128, memory_steps=1), registry)
    assert doc["status"] == "ok", doc["error"]
    assert doc["memory"]["first_step_peak_above_baseline_bytes"] > 20 * 2 ** 20


def test_memory_without_more_steps_has_no_steady_peak(registry: Registry) -> None:
    doc = run_case(small_case("memory", memory_steps=0), registry)
    assert doc["status"] == "ok" and doc["memory"]["steady_peak_above_baseline_bytes"] is None


def test_memory_flags_nan(registry: Registry) -> None:
    doc = run_case(small_case("memory", task="poison", batch_size=None, seq_len=None), registry)
    assert doc["status"] == "nan" and doc["memory"]["samples"] >= 2


# ---- accuracy --------------------------------------------------------------------------------


def test_accuracy_document(registry: Registry) -> None:
    case = small_case("accuracy", batch_size=None, seq_len=None, hidden_size=8)
    doc = run_case(case, registry)
    assert doc["status"] == "ok", doc["error"]
    assert tuple(doc) == KEYS and doc == strict_json(doc)
    acc = doc["accuracy"]
    assert acc["status"] in ("completed", "time_limit") and acc["steps"] == 3
    assert acc["spec"]["hidden_size"] == 8 == doc["spec"]["hidden_size"]  # the override reached train()
    assert [p["step"] for p in acc["curve"]] == [0, 2, 3] and "val_loss" in acc["final_metrics"]
    assert doc["batch"] == {"batch_size": 8, "seq_len": 100}  # the smoke recipe's
    assert doc["runtime"]["kernel_path"].startswith("numpy")


def test_accuracy_caps_the_budget(registry: Registry) -> None:
    budget = Budget(max_steps=10, max_seconds=30.0, eval_every=5, eval_batches=None, final_eval_batches=8)
    capped = capped_budget(budget, small_case("accuracy", accuracy_seconds=2.0, eval_batches=4))
    assert (capped.max_seconds, capped.eval_batches, capped.final_eval_batches) == (2.0, 4, 4)
    assert capped_budget(budget, small_case("accuracy")) == budget


def test_accuracy_on_nan_inputs_is_status_nan(registry: Registry) -> None:
    doc = run_case(small_case("accuracy", task="poison", batch_size=None, seq_len=None), registry)
    assert doc["status"] == "nan" and doc["accuracy"]["status"] == "diverged"
    assert doc["error"] == doc["accuracy"]["reason"]


def test_accuracy_refuses_shape_overrides(registry: Registry) -> None:
    doc = run_case(small_case("accuracy"), registry)
    assert doc["status"] == "failed" and doc["error"].startswith("UsageError: accuracy mode trains on")


def test_accuracy_trains_the_case_s_network_not_the_task_s(registry: Registry) -> None:
    case = small_case("accuracy", batch_size=None, seq_len=None, hidden_size=5, num_layers=2, dtype="float64")
    doc = run_case(case, registry)
    assert doc["status"] == "ok", doc["error"]
    trained = doc["accuracy"]["spec"]
    assert (trained["hidden_size"], trained["num_layers"], trained["dtype"]) == (5, 2, "float64")
    assert trained == doc["spec"]  # the one setup of every mode


# ---- setup -----------------------------------------------------------------------------------


def test_overridden_shapes_are_synthetic_and_prefetched(registry: Registry) -> None:
    setup = prepare(small_case("throughput", synthetic=False), registry, {}, empty_document())
    assert len(setup.batches) == 8
    assert {(x.shape, y.shape) for x, y in setup.batches} == {((4, 5), (4, 5))}
    assert all(x.max() < 65 for x, _ in setup.batches)  # token ids of the vocabulary


def test_task_batches_are_the_seeded_ones(registry: Registry, data_dir: str) -> None:
    case = small_case("throughput", synthetic=False, batch_size=None, seq_len=None, seed=3,
                      task_options={"data_dir": data_dir})
    setup = prepare(case, registry, {}, empty_document())
    expected = itertools.islice(setup.task.train_batches(3), 8)
    for (x, y), (ex, ey) in zip(setup.batches, expected, strict=True):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


def test_float_data_follows_the_case_dtype(registry: Registry) -> None:
    case = small_case("throughput", task="airline", dtype="float64", batch_size=None, seq_len=None)
    setup = prepare(case, registry, {}, empty_document())
    x, y = setup.batches[0]
    assert x.dtype == y.dtype == np.float64 and setup.spec.dtype == "float64"


def test_rates_are_finite_numbers(registry: Registry) -> None:
    doc = run_case(small_case("throughput", cell="gru", steps=2), registry)
    rates = [doc["throughput"][k][r] for k in ("train", "infer") for r in ("samples_per_s", "gflops")]
    assert all(isinstance(r, float) and math.isfinite(r) and r > 0 for r in rates)


# ---- latency ----------------------------------------------------------------------------------


def test_latency_document_times_whole_sequences_and_streamed_steps_at_batch_1(registry: Registry) -> None:
    case = small_case("latency", batch_size=None, seq_len=None, synthetic=False, task="airline", latency_calls=25)
    doc = run_case(case, registry)
    assert doc["status"] == "ok", doc["error"]
    assert doc["throughput"] is None and doc["batch"]["batch_size"] == 1 and doc["data"] == "real"
    section, seq_len = doc["latency"], doc["batch"]["seq_len"]
    assert (section["batch_size"], section["seq_len"], section["streaming_missing"]) == (1, seq_len, None)
    for kind, calls in (("whole", 25), ("streaming", 50)):
        block = section[kind]
        assert len(block["samples_s"]) == block["calls"] <= calls and block["first_call_s"] > 0
        assert block["p50_s"] <= block["p90_s"] <= block["p99_s"] <= block["max_s"]
        assert block["max_s"] == pytest.approx(max(block["samples_s"]), rel=1e-3)
        assert block["protocol"] == "calls-v1"
        assert all(float(f"{s:.4g}") == s for s in block["samples_s"])  # stored to 4 significant digits


def test_latency_of_a_model_without_a_step_times_whole_sequences_and_says_why(registry: Registry,
                                                                             monkeypatch) -> None:
    from rnnbench.backend import InferenceModel
    from rnnbench.backends.numpy_backend import NumpyModel

    monkeypatch.setattr(NumpyModel, "step", InferenceModel.step)  # a third party's model, written before steps
    doc = run_case(small_case("latency", latency_calls=20), registry)
    assert doc["status"] == "ok" and doc["latency"]["whole"]["calls"] == 20
    assert doc["latency"]["streaming"] is None
    assert doc["latency"]["streaming_missing"] == "the models of backend 'numpy' have no streaming step"
