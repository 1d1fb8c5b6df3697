"""Time series for forecasting: ETTh1/ETTh2 with the standard split, and airline passengers.

ETT follows the ETDataset/Informer code (``Dataset_ETT_hour``): 12 months of
30 days for training, 4 for validation, 4 for test; the validation and test
windows start ``lookback`` rows early so their first target follows the
previous split; a StandardScaler (population std) is fitted on the training
rows only. Features: ``S`` univariate OT -> OT, ``M`` all 7 columns -> all 7,
``MS`` all 7 -> OT.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rnnbench.data.catalog import AIRLINE, ETTH1, ETTH2, Part
from rnnbench.data.datadir import data_dir as resolve_data_dir
from rnnbench.data.datadir import require
from rnnbench.errors import UsageError

Features = Literal["S", "M", "MS"]
FEATURES: tuple[Features, ...] = ("S", "M", "MS")
DTYPES = ("float32", "float64")
ETT_COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
ETT_TARGET = "OT"
ETT_FILES: dict[str, Part] = {"ETTh1": ETTH1, "ETTh2": ETTH2}
MONTH_HOURS = 30 * 24
ETT_ENDS = (12 * MONTH_HOURS, 16 * MONTH_HOURS, 20 * MONTH_HOURS)  # last row (exclusive) of train, val, test
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Table:
    """A CSV of a date column followed by numeric columns."""

    dates: np.ndarray  # (T,) datetime64[s]
    columns: tuple[str, ...]  # names of the value columns
    values: np.ndarray  # (T, C) float64


def read_table(path: Path) -> Table:
    """Parse a ``date,col1,col2,...`` CSV; Python's float() rounds every value correctly."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    dates = np.array([row[0] for row in body], dtype="datetime64[s]")
    values = np.array([[float(v) for v in row[1:]] for row in body], dtype=np.float64).reshape(len(body), -1)
    return Table(dates, tuple(header[1:]), values)


@dataclass(frozen=True)
class StandardScaler:
    """(x - mean) / std per column, as sklearn's StandardScaler (std with ddof=0)."""

    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)

    @classmethod
    def fit(cls, values: np.ndarray) -> StandardScaler:
        return cls(values.mean(axis=0), values.std(axis=0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std


@dataclass(frozen=True)
class Windows:
    """One split as (look-back -> horizon) windows; ``x`` and ``y`` are read-only views of ``series``."""

    series: np.ndarray  # (T, F) scaled values of the split, its look-back context included
    x: np.ndarray  # (N, lookback, F_in) inputs, N = T - lookback - horizon + 1
    y: np.ndarray  # (N, horizon, F_out) targets: the rows right after each input window


def sliding_windows(series: np.ndarray, lookback: int, horizon: int,
                    targets: slice | list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``lookback`` rows of ``series`` (T, F) and the ``horizon`` rows that follow it.

    ``targets`` picks the target columns (all when None). The results are
    views, so windows of a long series cost no memory until a batch is taken.
    """
    count = len(series) - lookback - horizon + 1
    if count < 1:
        raise UsageError(f"lookback + horizon = {lookback + horizon} is not valid for a series of "
                         f"{len(series)} rows. Accepted: at most {len(series)}")
    view = np.lib.stride_tricks.sliding_window_view
    x = view(series, lookback, axis=0)[:count].transpose(0, 2, 1)  # (N, lookback, F)
    chosen = series[:, targets] if targets is not None else series  # (T, F_out)
    y = view(chosen[lookback:], horizon, axis=0)[:count].transpose(0, 2, 1)  # (N, horizon, F_out)
    return x, y


@dataclass(frozen=True)
class ForecastData:
    """A multivariate or univariate series split, scaled and cut into windows."""

    name: str  # "ETTh1"
    features: Features  # S, M or MS
    lookback: int
    horizon: int
    inputs: tuple[str, ...]  # input columns, in order
    targets: tuple[str, ...]  # target columns, in order
    scaler: StandardScaler  # fitted on the training rows of the input columns
    train: Windows
    val: Windows
    test: Windows


def ett_borders(lookback: int) -> tuple[tuple[int, int], ...]:
    """Row ranges [start, end) of train, val and test, as ``Dataset_ETT_hour`` sets them."""
    train_end, val_end, test_end = ETT_ENDS
    return (0, train_end), (train_end - lookback, val_end), (val_end - lookback, test_end)


def load_ett(data_dir: PathLike | None = None, name: str = "ETTh1", *, features: Features = "M",
             lookback: int = 96, horizon: int = 24, dtype: str = "float32") -> ForecastData:
    """ETTh1 (or ETTh2) with the standard 12/4/4-month split, scaled on the training months only."""
    _check_ett(name, features, lookback, horizon, dtype)
    table = read_table(require(ETT_FILES[name].choices[0], resolve_data_dir(data_dir)))
    inputs = (ETT_TARGET,) if features == "S" else table.columns
    values = table.values[:, [table.columns.index(c) for c in inputs]]  # (T, F_in)
    scaler = StandardScaler.fit(values[:ETT_ENDS[0]])
    scaled = scaler.transform(values).astype(dtype)  # (T, F_in)
    targets = inputs if features == "M" else (ETT_TARGET,)
    target_columns = [inputs.index(c) for c in targets]
    splits = [_windows(scaled[start:end], lookback, horizon, target_columns)
              for start, end in ett_borders(lookback)]
    return ForecastData(name, features, lookback, horizon, inputs, targets, scaler, *splits)


def load_etth1(data_dir: PathLike | None = None, *, features: Features = "M", lookback: int = 96,
               horizon: int = 24, dtype: str = "float32") -> ForecastData:
    return load_ett(data_dir, "ETTh1", features=features, lookback=lookback, horizon=horizon, dtype=dtype)


def _windows(series: np.ndarray, lookback: int, horizon: int, targets: list[int]) -> Windows:
    x, y = sliding_windows(series, lookback, horizon, targets)
    return Windows(series, x, y)


def _check_ett(name: str, features: str, lookback: int, horizon: int, dtype: str) -> None:
    choices = {"name": (name, tuple(ETT_FILES)), "features": (features, FEATURES), "dtype": (dtype, DTYPES)}
    for field, (value, accepted) in choices.items():
        if value not in accepted:
            raise UsageError(f"{field}={value!r} is not valid. Accepted: {', '.join(accepted)}")
    for length, size, high in (("lookback", lookback, ETT_ENDS[0]), ("horizon", horizon, 4 * MONTH_HOURS)):
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= high:
            raise UsageError(f"{length}={size!r} is not valid. Accepted: an integer in [1, {high}]")


@dataclass(frozen=True)
class MonthlySeries:
    """One value per month."""

    months: np.ndarray  # (T,) datetime64[M]
    values: np.ndarray  # (T,) float64


def load_airline(data_dir: PathLike | None = None) -> MonthlySeries:
    """International airline passengers, thousands per month, 1949-01 (112) to 1960-12 (432): 144 values."""
    path = require(AIRLINE.choices[0], resolve_data_dir(data_dir))
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))[1:]  # skip "Month","Passengers"
    months = np.array([month for month, _ in rows], dtype="datetime64[M]")
    return MonthlySeries(months, np.array([float(count) for _, count in rows], dtype=np.float64))
