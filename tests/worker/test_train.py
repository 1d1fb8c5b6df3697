"""The training loop: smoke runs of every task x cell on real backends, and the loop's logic on a fake clock.

The smoke profile (a few steps, one evaluation batch) runs every task and
cell on the NumPy reference and on the fastest installed backend (torch).
The stopping rules, the time accounting, time to target and divergence are
checked exactly with a stand-in model that advances a fake clock.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
from smoke import TASK_NAMES, smoke
from standins import StandInModel

from rnnbench.backend import Backend, Model, ParitySettings
from rnnbench.errors import BackendUnavailable, UsageError
from rnnbench.params import Params
from rnnbench.plugins.registry import Registry
from rnnbench.spec import CELLS, Cell, ModelSpec, OptimizerSpec
from rnnbench.task import Batch, Budget, Recipe, Target, Task
from rnnbench.worker.training import TrainResult, train

FAST_BACKEND = "torch"  # the fastest backend on the CPU, where it is installed


@pytest.fixture
def one_thread() -> Iterator[ParitySettings]:
    """One thread (on a busy 2-core runner torch's thread pool crawls); torch's count is restored after."""
    if importlib.util.find_spec("torch") is None:
        yield ParitySettings(threads=1)
        return
    import torch

    before = torch.get_num_threads()
    yield ParitySettings(threads=1)
    torch.set_num_threads(before)


def backends_here(registry: Registry) -> list[str]:
    return [n for n in ("numpy", FAST_BACKEND) if registry.backend(n).available().ok]


def check_smoke(result: TrainResult, task: Task) -> None:
    assert result.status in ("completed", "time_limit"), result.reason
    assert result.steps >= 1 and result.curve[0].step == 0 and result.curve[-1].step == result.steps
    assert all(math.isfinite(v) for v in result.final_metrics.values())
    assert task.headline in result.final_metrics
    assert result.train_seconds <= result.wall_seconds
    json.dumps(result.to_dict())  # a JSON document as it is


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("cell", CELLS)
def test_smoke_profile_trains_every_task_and_cell(task_registry: Registry, data_dir: str,
                                                  one_thread: ParitySettings, name: str, cell: Cell) -> None:
    task = smoke(task_registry, name, data_dir)
    for backend in backends_here(task_registry):
        result = train(task_registry.backend(backend), task, cell, seed=0, settings=one_thread)
        check_smoke(result, task)
        assert result.runtime["kernel_path"] and "threads" in result.runtime["settings"]  # type: ignore[operator]
        if name == "char_rnn":
            text = result.extras["sample"]["text"]  # type: ignore[index]
            assert text.startswith("To be or not to be") and len(text) == 18 + 20


def test_the_same_seed_gives_the_same_run(task_registry: Registry, data_dir: str) -> None:
    task = smoke(task_registry, "forecasting", data_dir)
    runs = [train(task_registry.backend("numpy"), task, "gru", seed=3) for _ in range(2)]
    assert [p.metrics for p in runs[0].curve] == [p.metrics for p in runs[1].curve]
    other = train(task_registry.backend("numpy"), task, "gru", seed=4)
    assert other.final_metrics != runs[0].final_metrics


def test_synthetic_mode_trains_without_data(task_registry: Registry, tmp_path) -> None:
    task = smoke(task_registry, "imdb", str(tmp_path), synthetic=True)
    result = train(task_registry.backend("numpy"), task, "lstm", seed=0)
    check_smoke(result, task)
    assert result.target is None and result.time_to_target is None and result.options["synthetic"] is True


def test_profile_argument_rebinds_the_task(task_registry: Registry, data_dir: str) -> None:
    task = task_registry.task("airline").with_options(data_dir=data_dir)
    result = train(task_registry.backend("numpy"), task, "rnn", profile="smoke")
    assert result.profile == "smoke" and result.spec.hidden_size == 8


@pytest.mark.parametrize("backend", ["numpy", FAST_BACKEND])
def test_a_nan_loss_is_reported_not_raised(task_registry: Registry, one_thread: ParitySettings,
                                           backend: str) -> None:
    if not task_registry.backend(backend).available().ok:
        pytest.skip(f"{backend} is not installed")
    result = train(task_registry.backend(backend), Poisoned(), "lstm", seed=0, settings=one_thread)
    assert result.status == "diverged" and result.steps == 2
    assert "non-finite" in result.reason and "at step 2" in result.reason
    assert result.extras == {} and result.to_dict()["final_metrics"] == {"mse": None}
    assert math.isfinite(result.curve[0].metrics["mse"])  # fine before training


def test_names_resolve_through_the_registry(data_dir: str) -> None:
    task = Registry().task("airline").with_options(data_dir=data_dir)
    assert train("numpy", task, "gru", profile="smoke").backend == "numpy"


def test_rnnbench_train_trains_whatever_the_import_order(data_dir: str) -> None:
    import rnnbench

    # This module imported rnnbench.worker.training first; the package's `train` is still the function.
    task = Registry().task("airline").with_options(data_dir=data_dir)
    assert rnnbench.train("numpy", task, "rnn", profile="smoke").steps >= 1


def test_bad_cell_and_unavailable_backend_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="cell='tree' is not valid. Accepted: rnn, lstm, gru"):
        train(Clocked(FakeClock()), Stepper(), "tree")  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailable, match="Backend 'missing' is not available: the module"):
        train(Missing(), Stepper(), "lstm")


# ---- the loop's logic, exactly, on a fake clock ----------------------------------------------


class FakeClock:
    """Seconds that pass only when the stand-in model says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counting(StandInModel):
    """Each step costs 1 s, each predict 0.25 s; it predicts its step count (NaN from ``nan_from`` on)."""

    label = "counting stand-in"

    def __init__(self, clock: FakeClock, nan_from: int | None) -> None:
        self.clock, self.nan_from, self.steps = clock, nan_from, 0

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.clock.now += 1.0
        self.steps += 1

    def last_loss(self) -> float | None:
        return math.nan if self.nan_from is not None and self.steps >= self.nan_from else 1.0 / self.steps

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.clock.now += 0.25
        return np.full((len(x), 1), float(self.steps), dtype=np.float32)  # (B, 1)


class Clocked(Backend):
    name = "clocked"

    def __init__(self, clock: FakeClock, nan_from: int | None = None) -> None:
        self.clock, self.nan_from = clock, nan_from

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        return Counting(self.clock, self.nan_from)


class Missing(Backend):
    name = "missing"
    requires = ("no_such_module_rnnbench",)

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        raise NotImplementedError


class Stepper(Task):
    """Its metric is the model's step count; target: step >= 5. Evaluation data: 2 batches of 2."""

    name = "stepper"
    headline = "steps"

    def __init__(self, budget: Budget | None = None) -> None:
        super().__init__()
        self._budget = budget or Budget(max_steps=9, max_seconds=None, eval_every=2)

    def recipe(self) -> Recipe:
        return Recipe(4, 1, 2, 2, OptimizerSpec("sgd", lr=0.1), self._budget)

    def model_spec(self, cell: Cell) -> ModelSpec:
        return ModelSpec(cell, 4, "regress", 1, input_features=1)

    @property
    def seq_len(self) -> int:
        return 3

    def quality_target(self, cell: Cell) -> Target | None:
        return Target("steps", 5.0, "max")

    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        while True:
            yield np.zeros((2, 3, 1), np.float32), np.zeros((2, 1), np.float32)

    def real_eval_arrays(self) -> Batch:
        return np.zeros((4, 3, 1), np.float32), np.zeros((4, 1), np.float32)

    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return {"steps": float(out.mean()), "rows": float(len(x))}


class Poisoned(Stepper):
    """Real backends on NaN inputs from the second batch on."""

    def __init__(self) -> None:
        super().__init__(Budget(max_steps=6, max_seconds=None, eval_every=2))

    def quality_target(self, cell: Cell) -> Target | None:
        return None

    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        yield np.ones((2, 3, 1), np.float32), np.ones((2, 1), np.float32)
        while True:
            yield np.full((2, 3, 1), np.nan, np.float32), np.ones((2, 1), np.float32)

    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return {"mse": float(np.mean((out - y) ** 2))}


def test_steps_budget_curve_and_time_accounting() -> None:
    clock = FakeClock()
    result = train(Clocked(clock), Stepper(), "lstm", clock=clock)
    assert result.status == "completed" and result.steps == 9
    assert [p.step for p in result.curve] == [0, 2, 4, 6, 8, 9]
    assert [p.metrics["steps"] for p in result.curve] == [0, 2, 4, 6, 8, 9]
    assert result.train_seconds == 9.0  # one per step, evaluations excluded
    assert result.wall_seconds == 9.0 + 6 * 2 * 0.25  # six evaluations of two batches
    assert result.first_step_seconds == 1.0
    assert [p.train_loss for p in result.curve[:3]] == [None, 0.5, 0.25]
    assert result.time_to_target is not None
    assert (result.time_to_target.step, result.time_to_target.train_seconds) == (6, 6.0)
    assert result.time_to_target.wall_seconds == 6.0 + 3 * 0.5


def test_time_budget_stops_and_evaluates_at_the_end() -> None:
    clock = FakeClock()
    budget = Budget(max_steps=100, max_seconds=3.5, eval_every=10, eval_batches=1, final_eval_batches=None)
    result = train(Clocked(clock), Stepper(budget), "gru", clock=clock)
    assert result.status == "time_limit" and result.steps == 4 and "3.5 s" in result.reason
    assert [(p.step, p.eval_rows, p.eval_whole) for p in result.curve] == [(0, 2, False), (4, 4, True)]
    assert [p.metrics["rows"] for p in result.curve] == [2, 4]


def test_only_whole_evaluations_count_for_the_target() -> None:
    clock = FakeClock()
    budget = Budget(max_steps=9, max_seconds=None, eval_every=2, eval_batches=1, final_eval_batches=None)
    result = train(Clocked(clock), Stepper(budget), "lstm", stop_at_target=True, clock=clock)
    assert [(p.step, p.eval_whole) for p in result.curve] == [(0, False), (2, False), (4, False), (6, False),
                                                              (8, False), (9, True)]
    assert result.status == "completed"  # met at step 6 on half the data: that is not the metric
    assert result.time_to_target is not None and result.time_to_target.step == 9


def test_stop_at_target() -> None:
    clock = FakeClock()
    result = train(Clocked(clock), Stepper(), "rnn", stop_at_target=True, clock=clock)
    assert result.status == "target_reached" and result.steps == 6 and "steps >= 5" in result.reason
    assert result.curve[-1].step == 6 and result.time_to_target.step == 6  # type: ignore[union-attr]


def test_a_nan_training_loss_stops_at_the_next_evaluation() -> None:
    clock = FakeClock()
    seen = []
    result = train(Clocked(clock, nan_from=3), Stepper(), "lstm", clock=clock, on_eval=seen.append)
    assert result.status == "diverged" and result.steps == 4
    assert result.reason == "non-finite training loss (nan) at step 4; training stopped"
    assert [p.step for p in seen] == [0, 2, 4] and result.curve == tuple(seen)
    assert result.to_dict()["curve"][-1]["train_loss"] is None  # type: ignore[index]
