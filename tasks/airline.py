"""airline: the monthly international airline passengers, 1949-1960, a small forecasting variant.

The usual tutorial split: the first 96 months (1949-1956, two thirds) train,
the last 48 (1957-1960) test. The model reads and predicts monthly changes
of the log of the series (log returns), scaled by a StandardScaler fitted
on the training months only: the test years reach passenger numbers the
training years never saw, so a network fed the scaled levels would have to
extrapolate, whereas log and differencing (Box and Jenkins' treatment of
this very series) make it stationary. Forecasts are turned back into
passengers from the last observed month; the metric is the test RMSE in
passengers (thousands, as the series counts them), beside two naive
forecasts on the same windows: persistence (the last month repeated, a zero
change) and seasonal naive (the same month a year before). The target is to
beat the better of the two: a network that predicts about zero change (an
untrained one) already beats persistence, whose misses are the seasonal
swings.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rnnbench import hookimpl
from rnnbench.errors import UsageError
from rnnbench.spec import Cell, ModelSpec, OptimizerSpec
from rnnbench.task import Batch, Budget, Recipe, Target, Task, TaskConfig

from .common import epoch_batches, errors

TRAIN_MONTHS = 96  # 1949-01 .. 1956-12
MAX_LOOKBACK = 24
MAX_HORIZON = 12  # the seasonal naive forecast reads the same month of the year before


@dataclass(frozen=True)
class AirlineConfig(TaskConfig):
    """Options of airline."""

    lookback: int = 12  # months the model reads: one seasonal cycle
    horizon: int = 1  # months it predicts, all at once

    def __post_init__(self) -> None:
        super().__post_init__()
        for field in ("lookback", "horizon"):
            value = getattr(self, field)
            high = MAX_HORIZON if field == "horizon" else MAX_LOOKBACK
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise UsageError(f"{field}={value!r} is not valid. Accepted: an integer in [1, {high}]")


@dataclass(frozen=True)
class AirlineData:
    """Scaled log-change windows of the two splits, and what turns forecasts back into passengers."""

    train_x: np.ndarray  # (N_train, lookback, 1) scaled log changes
    train_y: np.ndarray  # (N_train, horizon) the next scaled log changes
    test_x: np.ndarray  # (N_test, lookback, 1)
    test_y: np.ndarray  # (N_test, horizon)
    test_base: np.ndarray  # (N_test,) log passengers of the month before each test forecast
    test_seasonal: np.ndarray  # (N_test, horizon) passengers 12 months before each forecast month
    mean: float  # of the training log changes
    std: float  # of the training log changes (population std)

    def passengers(self, scaled: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Scaled log changes (N, horizon) after log levels ``base`` (N,) as passengers (N, horizon)."""
        changes = scaled.astype(np.float64) * self.std + self.mean  # (N, horizon)
        return np.exp(base[:, None] + np.cumsum(changes, axis=1))


def _adam(lr: float) -> OptimizerSpec:
    return OptimizerSpec("adam", lr=lr, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=1.0)


# Quick: the same steps for every backend (the equal-step comparison), a few seconds on the slowest here.
QUICK_STEPS = 300
RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(hidden_size=8, num_layers=1, batch_size=8, eval_batch_size=16, optimizer=_adam(1e-2),
                    budget=Budget(max_steps=3, max_seconds=None, eval_every=2, loss_every_step=True)),
    "quick": Recipe(hidden_size=32, num_layers=1, batch_size=12, eval_batch_size=48, optimizer=_adam(5e-3),
                    budget=Budget(max_steps=QUICK_STEPS, max_seconds=None, eval_every=QUICK_STEPS,
                                  loss_every_step=True)),
    "full": Recipe(hidden_size=32, num_layers=1, batch_size=12, eval_batch_size=48, optimizer=_adam(5e-3),
                   budget=Budget(max_steps=2100, max_seconds=600.0, eval_every=70)),
}


@functools.lru_cache(maxsize=4)
def _airline(data_dir: str | None, lookback: int, horizon: int) -> AirlineData:
    from rnnbench.data import load_airline
    from rnnbench.data.series import sliding_windows

    logs = np.log(load_airline(data_dir).values)  # (144,)
    changes = np.diff(logs)  # (143,) changes[t] leads from month t to month t + 1
    train = changes[:TRAIN_MONTHS - 1]  # the changes inside the training months
    mean, std = float(train.mean()), float(train.std())
    scaled = ((changes - mean) / std).astype(np.float32)[:, None]  # (143, 1)
    train_x, train_y = sliding_windows(scaled[:TRAIN_MONTHS - 1], lookback, horizon)
    first = TRAIN_MONTHS - 1 - lookback  # the test targets start with the change into month 96
    test_x, test_y = sliding_windows(scaled[first:], lookback, horizon)
    base = logs[TRAIN_MONTHS - 1:TRAIN_MONTHS - 1 + len(test_x)]  # (N_test,) the month before each forecast
    months = TRAIN_MONTHS + np.arange(len(test_x))[:, None] + np.arange(horizon)  # (N_test, horizon) forecast
    seasonal = np.exp(logs[months - 12])  # (N_test, horizon)

    def copy(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a)

    return AirlineData(copy(train_x), copy(train_y[..., 0]), copy(test_x), copy(test_y[..., 0]), base,
                       seasonal, mean, std)


class AirlineTask(Task):
    name = "airline"
    description = "Monthly airline passengers 1949-1960 (96 months train, 48 test); test RMSE in passengers"
    config_class = AirlineConfig
    headline = "test_rmse"
    config: AirlineConfig

    def recipe(self) -> Recipe:
        return RECIPES[self.config.profile]

    def model_spec(self, cell: Cell) -> ModelSpec:
        r = self.recipe()
        return ModelSpec(cell, r.hidden_size, "regress", self.config.horizon, num_layers=r.num_layers,
                         input_features=1)

    @property
    def seq_len(self) -> int:
        return self.config.lookback

    def data(self) -> AirlineData:
        return _airline(self.config.data_dir, self.config.lookback, self.config.horizon)

    def quality_target(self, cell: Cell) -> Target | None:
        """Beat both naive forecasts on the test windows, in passengers."""
        d = self.data()
        naive = self.metrics(d.test_x, d.test_y, d.test_y)
        return Target("test_rmse", min(naive["persistence_rmse"], naive["seasonal_rmse"]), "min")

    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        d = self.data()
        return epoch_batches(d.train_x, d.train_y, self.recipe().batch_size, seed)

    def real_eval_arrays(self) -> Batch:
        d = self.data()
        return d.test_x, d.test_y

    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        if self.config.synthetic:  # no data, so no passengers: errors of the scaled changes
            forecasts = {"test": out, "persistence": np.zeros_like(y), "seasonal": np.zeros_like(y)}
            truth = y
        else:
            d = self.data()
            base = d.test_base[:len(x)]  # evaluation rows are the first len(x) test windows, in order
            truth = d.passengers(y, base)  # (N, horizon)
            forecasts = {"test": d.passengers(out, base),
                         "persistence": np.repeat(np.exp(base)[:, None], y.shape[1], axis=1),  # last month
                         "seasonal": d.test_seasonal[:len(x)]}
        metrics: dict[str, float] = {}
        for name, forecast in forecasts.items():
            err = errors(forecast, truth)
            metrics |= {f"{name}_rmse": float(np.sqrt(err["mse"])), f"{name}_mae": err["mae"]}
        return metrics


@hookimpl
def rnnbench_register_tasks() -> list[type[Task]]:
    return [AirlineTask]
