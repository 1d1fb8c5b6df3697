"""The built-in tasks: options, data contract, seeded batches, synthetic mode, metrics and baselines.

Real data comes from the read-only mirror (``RNNBENCH_DATA_DIR``, else
../shared/data); each dataset is loaded once per session by the tasks'
own caches. Everything here runs on the smoke profile, without a framework.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from smoke import TASK_NAMES, smoke
from standins import StandInModel

from rnnbench.data import DataMissing
from rnnbench.errors import UsageError
from rnnbench.plugins import BUILTIN_PLUGINS
from rnnbench.plugins.registry import Registry
from rnnbench.spec import CELLS, ModelSpec
from rnnbench.task import Batch, Budget, Recipe, Target, Task, TaskConfig, predict_padded
from rnnbench.tasks.char_rnn import CharRnnTask, sample
from rnnbench.tasks.common import epoch_batches, persistence
from rnnbench.tasks.forecasting import forecast_metrics

TASK_PLUGINS = ("rnnbench.tasks.char_rnn", "rnnbench.tasks.imdb", "rnnbench.tasks.forecasting",
                "rnnbench.tasks.airline")


def contract(spec: ModelSpec, batch: Batch, steps: int) -> None:
    """``batch`` is what ModelSpec's data contract says for ``spec``."""
    x, y = batch
    b = len(x)
    if spec.embedded:
        assert x.shape == (b, steps) and x.dtype.kind in "iu"
        assert 0 <= x.min() and x.max() < spec.vocab_size
    else:
        assert x.shape == (b, steps, spec.input_features) and x.dtype == np.dtype(spec.dtype)
    if spec.head == "lm":
        assert y.shape == (b, steps) and y.dtype.kind in "iu" and y.max() < spec.output_size
    else:
        assert y.shape == (b, spec.output_size) and y.dtype == np.dtype(spec.dtype)
    if spec.head == "classify":
        assert set(np.unique(y)) <= {0.0, 1.0}


# ---- registration and options ------------------------------------------------------


def test_every_builtin_task_is_registered(task_registry: Registry) -> None:
    assert set(TASK_PLUGINS) <= set(BUILTIN_PLUGINS)
    assert task_registry.task_names() == list(TASK_NAMES)
    for name in TASK_NAMES:
        task = task_registry.task(name)
        assert task.available().ok and task.config.profile == "quick" and task.headline


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_profile_gives_a_spec_optimizer_and_budget_for_every_cell(task_registry: Registry,
                                                                        name: str) -> None:
    for profile in ("smoke", "quick", "full"):
        task = task_registry.task(name).with_options(profile=profile)
        for cell in CELLS:
            assert task.model_spec(cell).cell == cell
            assert task.optimizer(cell).lr > 0
        assert task.budget().max_steps >= 1


@pytest.mark.parametrize(("name", "options", "message"), [
    ("char_rnn", {"profile": "huge"}, "profile='huge' is not valid. Accepted: smoke, quick, full"),
    ("char_rnn", {"temperature": 0}, "temperature=0 is not valid"),
    ("char_rnn", {"prompt": ""}, "prompt='' is not valid"),
    ("imdb", {"maxlen": 0}, "maxlen=0 is not valid"),
    ("forecasting", {"features": "X"}, "features='X' is not valid. Accepted: M, S, MS"),
    ("forecasting", {"lookback": 0}, "lookback=0 is not valid"),
    ("forecasting", {"horizon": 1.5}, "horizon=1.5 is not valid"),
    ("airline", {"synthetic": "yes"}, "synthetic='yes' is not valid"),
    ("airline", {"horizon": 13}, "horizon=13 is not valid. Accepted: an integer in [1, 12]"),
    ("imdb", {"look_back": 3}, "Unknown option 'look_back' for task 'imdb'. Accepted: profile, synthetic"),
])
def test_bad_options_are_rejected_with_the_rule(task_registry: Registry, name: str, options: dict,
                                                message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        task_registry.task(name).with_options(**options)


def test_a_task_refuses_another_tasks_config() -> None:
    with pytest.raises(UsageError, match="Accepted: a CharRnnConfig"):
        CharRnnTask(TaskConfig())


def test_budget_recipe_and_target_validate() -> None:
    with pytest.raises(UsageError, match="max_steps=0"):
        Budget(max_steps=0, max_seconds=None, eval_every=1)
    with pytest.raises(UsageError, match="max_seconds=-1"):
        Budget(max_steps=1, max_seconds=-1, eval_every=1)
    with pytest.raises(UsageError, match="goal='up'"):
        Target("loss", 1.0, "up")  # type: ignore[arg-type]
    target = Target("loss", 1.5, "min")
    assert target.reached({"loss": 1.5}) and not target.reached({"loss": 1.6})
    assert not target.reached({"loss": math.nan}) and not target.reached({})
    assert Target("acc", 0.8, "max").reached({"acc": 0.9})


# ---- batches: contract, determinism, synthetic mode -----------------------------------


@pytest.mark.parametrize("name", TASK_NAMES)
def test_batches_follow_the_data_contract(task_registry: Registry, data_dir: str, name: str) -> None:
    task = smoke(task_registry, name, data_dir)
    spec = task.model_spec("lstm")
    for batch in islice(task.train_batches(seed=0), 3):
        assert len(batch[0]) == task.recipe().batch_size
        contract(spec, batch, task.seq_len)
    for batch in islice(task.eval_batches(limit=2), 2):
        contract(spec, batch, task.seq_len)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_batches_are_deterministic_for_a_seed(task_registry: Registry, data_dir: str, name: str) -> None:
    task = smoke(task_registry, name, data_dir)

    def first(seed: int) -> list[Batch]:
        return list(islice(task.train_batches(seed), 4))

    for (xa, ya), (xb, yb) in zip(first(1), first(1), strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first(1), first(2), strict=True))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_synthetic_batches_have_the_real_shapes_and_need_no_data(task_registry: Registry, data_dir: str,
                                                                 tmp_path: Path, name: str) -> None:
    real = smoke(task_registry, name, data_dir)
    fake = smoke(task_registry, name, str(tmp_path), synthetic=True)  # an empty data dir
    (rx, ry), (sx, sy) = next(real.train_batches(0)), next(fake.train_batches(0))
    assert (rx.shape, ry.shape) == (sx.shape, sy.shape)
    assert (rx.dtype.kind, ry.dtype.kind) == (sx.dtype.kind, sy.dtype.kind)
    contract(fake.model_spec("gru"), (sx, sy), real.seq_len)
    ex, ey = fake.eval_arrays()
    assert ex.shape[1:] == real.eval_arrays()[0].shape[1:] and ey.shape[1:] == real.eval_arrays()[1].shape[1:]
    assert fake.target("lstm") is None
    np.testing.assert_array_equal(next(fake.train_batches(5))[0], next(fake.train_batches(5))[0])
    with pytest.raises(DataMissing):
        next(smoke(task_registry, name, str(tmp_path)).train_batches(0))


def test_epoch_batches_visit_every_example_once_per_epoch() -> None:
    x = np.arange(10)[:, None]  # (10, 1)
    batches = list(islice(epoch_batches(x, x, batch_size=3, seed=0), 6))  # two epochs of 3 full batches
    for epoch in (batches[:3], batches[3:]):
        seen = np.concatenate([b[0][:, 0] for b in epoch])
        assert len(set(seen.tolist())) == 9  # one example left over per epoch, never a repeat


# ---- char_rnn -----------------------------------------------------------------------


def test_char_rnn_splits_and_windows(task_registry: Registry, data_dir: str) -> None:
    task = smoke(task_registry, "char_rnn", data_dir)
    corpus = task.corpus()  # type: ignore[attr-defined]
    assert corpus.vocab_size == 65 and len(corpus.train) == 1_003_854 and len(corpus.val) == 111_540
    x, y = task.eval_arrays()
    assert x.shape == (1115, 100)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one character
    np.testing.assert_array_equal(x.ravel()[100:], y.ravel()[99:-1])  # windows are consecutive
    bx, by = next(task.train_batches(0))
    np.testing.assert_array_equal(bx[:, 1:], by[:, :-1])


class ConstantLogits(StandInModel):
    """A stand-in whose logits always favour one id; records the shapes it is asked for."""

    def __init__(self, favourite: int, width: int, vocab: int = 65) -> None:
        self.favourite, self.width, self.vocab, self.shapes = favourite, width, vocab, []  # type: list

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.shapes.append(x.shape)
        out = np.zeros((*x.shape, self.width), dtype=np.float32)  # (B, T, V) or (B, F?)
        out[..., self.favourite] = 50.0
        return out


def test_sampling_continues_the_prompt_with_one_input_shape(task_registry: Registry, data_dir: str) -> None:
    task = smoke(task_registry, "char_rnn", data_dir)
    corpus = task.corpus()  # type: ignore[attr-defined]
    model = ConstantLogits(int(corpus.encode("a")[0]), 65)
    text = sample(model, corpus, "To be or not to be", 12, 0.8, np.random.default_rng(0))
    assert text == "To be or not to be" + "a" * 12
    assert set(model.shapes) == {(1, 100)}  # padded to the window: one shape for compiling backends
    extras = task.extras(model, seed=0)
    assert extras["sample"]["text"].startswith("To be or not to be")  # type: ignore[index]
    assert len(extras["sample"]["text"]) == 18 + 20  # type: ignore[index]


def test_char_rnn_metric_is_cross_entropy_in_nats_and_bits(task_registry: Registry, data_dir: str) -> None:
    task = smoke(task_registry, "char_rnn", data_dir)
    x, y = task.eval_arrays()
    uniform = np.zeros((2, 100, 65), dtype=np.float32)
    metrics = task.metrics(x[:2], y[:2], uniform)
    assert metrics["val_loss"] == pytest.approx(math.log(65))
    assert metrics["val_bpc"] == pytest.approx(math.log2(65))


# ---- imdb -------------------------------------------------------------------------------


def test_imdb_is_keras_padded(task_registry: Registry, data_dir: str) -> None:
    task = smoke(task_registry, "imdb", data_dir)
    x, y = task.eval_arrays()
    assert x.shape == (25_000, 500) and y.shape == (25_000, 1) and y.mean() == 0.5
    assert x.max() < 10_000
    padded = np.flatnonzero(x[:, 0] == 0)  # reviews shorter than 500: zeros in front ("pre" padding)
    first = np.argmax(x[padded] != 0, axis=1)  # (n,) where each of them begins
    assert len(padded) > 10_000 and np.all(x[padded, first] == 1)  # with Keras' start id 1
    assert np.any(x[:, 0] > 1)  # longer ones lost their start ("pre" truncating)
    assert task.model_spec("gru").output_size == 1 and task.model_spec("gru").embedding_dim == 32


def test_imdb_accuracy_reads_logits(task_registry: Registry, data_dir: str) -> None:
    task = smoke(task_registry, "imdb", data_dir)
    y = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    logits = np.array([[2.0], [-1.0], [-0.5], [0.3]], dtype=np.float32)
    assert task.metrics(np.zeros((4, 500)), y, logits)["test_accuracy"] == 0.5


# ---- forecasting and airline -------------------------------------------------------------


def test_persistence_repeats_the_last_value_of_a_hand_made_series() -> None:
    series = np.arange(20, dtype=np.float64)[:, None] * np.array([1.0, 10.0])  # (20, 2): 0..19 and 0..190
    x = np.stack([series[i:i + 4] for i in range(0, 14)])  # (14, 4, 2) look-back 4
    truth = np.stack([series[i + 4:i + 7] for i in range(0, 14)])  # (14, 3, 2) horizon 3
    naive = persistence(x, 3, [0, 1])
    np.testing.assert_array_equal(naive[0], [[3, 30], [3, 30], [3, 30]])
    # the error at horizon step k is k + 1 (column 0) and 10 (k + 1) (column 1)
    metrics = forecast_metrics(x, truth.reshape(14, -1), truth.reshape(14, -1), 3, [0, 1])
    expected_mse = np.mean([1, 4, 9, 100, 400, 900])
    assert metrics["persistence_mse"] == pytest.approx(expected_mse)
    assert metrics["persistence_mae"] == pytest.approx(np.mean([1, 2, 3, 10, 20, 30]))
    assert metrics["test_mse"] == 0.0 and metrics["mse_vs_persistence"] == 0.0
    assert metrics["mean_mse"] == pytest.approx(np.mean(truth ** 2))  # the forecast 0 (the scaled mean)
    np.testing.assert_array_equal(persistence(x, 2, [1])[:, :, 0], np.repeat(x[:, -1:, 1], 2, axis=1))


@pytest.mark.parametrize(("features", "inputs", "outputs"), [("M", 7, 7 * 24), ("S", 1, 24), ("MS", 7, 24)])
def test_forecasting_feature_modes(task_registry: Registry, data_dir: str, features: str, inputs: int,
                                   outputs: int) -> None:
    task = smoke(task_registry, "forecasting", data_dir, features=features)
    spec = task.model_spec("lstm")
    assert (spec.input_features, spec.output_size, spec.head) == (inputs, outputs, "regress")
    x, y = task.eval_arrays()
    assert x.shape == (2857, 96, inputs) and y.shape == (2857, outputs)


def test_forecasting_target_is_persistence_as_the_literature_reports_it(task_registry: Registry,
                                                                        data_dir: str) -> None:
    # DLinear's table gives "Repeat" on ETTh1 (M, look-back 96 -> 96) as MSE 1.295, MAE 0.713.
    task = smoke(task_registry, "forecasting", data_dir, horizon=96)
    x, y = task.eval_arrays()
    metrics = task.metrics(x, y, y)
    assert metrics["persistence_mse"] == pytest.approx(1.295, abs=1e-3)
    assert metrics["persistence_mae"] == pytest.approx(0.713, abs=1e-3)
    assert metrics["mean_mse"] == pytest.approx(1.1099, abs=1e-4)  # the mean beats persistence here
    assert task.target("lstm") == Target("test_mse", pytest.approx(metrics["mean_mse"]), "min")
    univariate = task.with_options(features="S")  # where persistence is the better naive forecast
    assert univariate.target("gru").value == pytest.approx(0.0693, abs=1e-4)  # type: ignore[union-attr]
    other = task.with_options(lookback=48, horizon=12)
    assert other.model_spec("gru").output_size == 7 * 12 and other.eval_arrays()[0].shape[1] == 48


@pytest.mark.parametrize(("lookback", "horizon"), [(96, 24), (336, 168)])
def test_the_full_forecasting_budget_is_five_epochs_of_the_configs_own_windows(task_registry: Registry,
                                                                                data_dir: str, lookback: int,
                                                                                horizon: int) -> None:
    task = task_registry.task("forecasting").with_options(profile="full", data_dir=data_dir, lookback=lookback,
                                                         horizon=horizon)
    windows = len(task.data().train.x)  # counted on the real split
    budget = task.budget()
    assert budget.eval_every == windows // task.recipe().batch_size
    assert budget.max_steps == 5 * budget.eval_every
    assert budget.max_seconds == 1800.0 and task.recipe().hidden_size == 64  # the rest of the recipe as it was


def test_airline_windows_and_rmse_in_passengers(task_registry: Registry, data_dir: str) -> None:
    from rnnbench.data import load_airline

    task = smoke(task_registry, "airline", data_dir)
    assert next(task.train_batches(0))[0].shape == (8, 12, 1)
    x, y = task.eval_arrays()
    assert x.shape == (48, 12, 1) and y.shape == (48, 1)
    metrics = task.metrics(x, y, y)
    assert metrics["test_rmse"] == pytest.approx(0.0, abs=1e-3)
    # persistence misses each test month by its change from the month before, in passengers
    months = load_airline(data_dir).values
    expected = np.sqrt(np.mean(np.diff(months)[95:] ** 2))
    assert metrics["persistence_rmse"] == pytest.approx(expected)
    naive = task.metrics(x, y, np.full_like(y, -task.data().mean / task.data().std))  # type: ignore[attr-defined]
    assert naive["test_rmse"] == pytest.approx(expected, rel=1e-4)  # predicting no change is persistence
    # seasonal naive misses each month by its change over the year, and beats persistence here
    seasonal = np.sqrt(np.mean((months[96:] - months[84:132]) ** 2))
    assert metrics["seasonal_rmse"] == pytest.approx(seasonal) and seasonal < expected
    assert task.target("rnn") == Target("test_rmse", pytest.approx(seasonal), "min")
    ahead = task.with_options(horizon=3)
    assert ahead.eval_arrays()[1].shape == (46, 3) and ahead.model_spec("lstm").output_size == 3


# ---- evaluation plumbing ---------------------------------------------------------------


def test_predict_padded_keeps_one_batch_shape_and_trims() -> None:
    model = ConstantLogits(0, 3)
    x = np.zeros((7, 5), dtype=np.int32)
    out = predict_padded(model, x, batch_size=3)
    assert out.shape == (7, 5, 3) and set(model.shapes) == {(3, 5)}


class _Tiny(Task):
    """A task defined in a few lines, to show the base class does the rest."""

    name = "tiny"
    headline = "count"

    def recipe(self) -> Recipe:
        from rnnbench.spec import OptimizerSpec

        return Recipe(4, 1, 2, 3, OptimizerSpec("sgd", lr=0.1), Budget(4, None, 2))

    def model_spec(self, cell):  # type: ignore[no-untyped-def]
        return ModelSpec(cell, 4, "regress", 1, input_features=2)

    @property
    def seq_len(self) -> int:
        return 3

    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        while True:
            yield np.ones((2, 3, 2), np.float32), np.ones((2, 1), np.float32)

    def real_eval_arrays(self) -> Batch:
        return np.ones((5, 3, 2), np.float32), np.ones((5, 1), np.float32)

    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return {"mean_output": float(np.mean(out)), "count": float(len(x))}


def test_evaluate_limits_batches_and_eval_batches_slices() -> None:
    task, model = _Tiny(), ConstantLogits(0, 1)
    assert task.evaluate(model)["count"] == 5.0
    assert task.evaluate(model, limit=1)["count"] == 3.0
    assert [len(x) for x, _ in task.eval_batches()] == [3, 2]
    assert task.target("lstm") is None and task.extras(model, 0) == {}
