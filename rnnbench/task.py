"""The interface every task plugin implements.

A task supplies a workload: its data, the ModelSpec and OptimizerSpec for
each cell, batches, its metric and budgets. Like a backend it is cheap to
construct and loads nothing until asked.

A ``Task`` instance is bound to one ``TaskConfig`` (the profile and the
task's own options, validated); ``with_options`` returns a copy bound to
another. The profile picks a ``Recipe``: model size, batch size, optimiser
and ``Budget``. The base class turns the few things a task defines (its
recipe, model spec, real data and metric function) into seeded batch
iterators, synthetic batches of the same shapes, and ``evaluate``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from rnnbench.backend import Availability, modules_availability
from rnnbench.errors import UsageError
from rnnbench.spec import Cell, ModelSpec, OptimizerSpec

if TYPE_CHECKING:
    from typing_extensions import Self

    from rnnbench.backend import Model

Profile = Literal["smoke", "quick", "full"]
PROFILES: tuple[Profile, ...] = ("smoke", "quick", "full")
Goal = Literal["min", "max"]
Batch = tuple[np.ndarray, np.ndarray]  # (x, y), batch-first, as ModelSpec's data contract says

SYNTHETIC_STREAM = 0x5EED  # keeps synthetic batches apart from every other stream drawn from a seed
EVAL_STREAM = 0xE7A1  # the one fixed stream of synthetic evaluation data


def _positive_int(field: str, value: object, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"{field}={value!r} is not valid. Accepted: an integer >= {low}")


def _optional_positive_int(field: str, value: object) -> None:
    if value is not None:
        _positive_int(field, value)


@dataclass(frozen=True)
class TaskConfig:
    """The options of one task run; tasks subclass it to add their own fields."""

    profile: Profile = "quick"  # smoke (seconds, CI), quick (minutes), full (published quality)
    synthetic: bool = False  # seeded random batches of the real shapes; the data is never read
    data_dir: str | None = None  # where the data lives; None: $RNNBENCH_DATA_DIR, else the user cache

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise UsageError(f"profile={self.profile!r} is not valid. Accepted: {', '.join(PROFILES)}")
        if not isinstance(self.synthetic, bool):
            raise UsageError(f"synthetic={self.synthetic!r} is not valid. Accepted: True or False")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise UsageError(f"data_dir={self.data_dir!r} is not valid. Accepted: a path as a str, or None")

    def options(self) -> dict[str, object]:
        """Every field and its value, for the result record."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Budget:
    """How long one training run may go, and when and on how much it is evaluated."""

    max_steps: int  # optimiser steps at most
    max_seconds: float | None  # training wall time at most (evaluations excluded); None: steps only
    eval_every: int  # evaluate after every this many steps, and after the last one
    eval_batches: int | None = None  # evaluation batches at intermediate points; None: the whole set
    final_eval_batches: int | None = None  # evaluation batches at the end; None: the whole set
    # Read the training loss after every step (one host sync per step): the loss curve per step that the
    # equal-step comparison of the smoke and quick profiles holds against the NumPy reference's.
    loss_every_step: bool = False

    def __post_init__(self) -> None:
        _positive_int("max_steps", self.max_steps)
        _positive_int("eval_every", self.eval_every)
        _optional_positive_int("eval_batches", self.eval_batches)
        _optional_positive_int("final_eval_batches", self.final_eval_batches)
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise UsageError(f"max_seconds={self.max_seconds!r} is not valid. Accepted: a number > 0 or None")


@dataclass(frozen=True)
class Recipe:
    """What a profile fixes for a task: model size, batches, optimiser, budget."""

    hidden_size: int  # H of every recurrent layer
    num_layers: int  # stacked recurrent layers
    batch_size: int  # training batch size
    eval_batch_size: int  # evaluation batch size (the last batch is padded, then trimmed)
    optimizer: OptimizerSpec  # every hyperparameter explicit
    budget: Budget

    def __post_init__(self) -> None:
        for field in ("hidden_size", "num_layers", "batch_size", "eval_batch_size"):
            _positive_int(field, getattr(self, field))


@dataclass(frozen=True)
class Target:
    """A quality level: reached when ``metric`` is at most (goal min) or at least (goal max) ``value``."""

    metric: str  # a key of the task's metrics, e.g. "val_loss"
    value: float
    goal: Goal

    def __post_init__(self) -> None:
        if self.goal not in ("min", "max"):
            raise UsageError(f"goal={self.goal!r} is not valid. Accepted: min, max")

    def reached(self, metrics: Mapping[str, float]) -> bool:
        """Whether ``metrics`` meet the target (never for a missing or non-finite value)."""
        value = metrics.get(self.metric)
        if value is None or not np.isfinite(value):
            return False
        return value <= self.value if self.goal == "min" else value >= self.value

    def describe(self) -> str:
        return f"{self.metric} {'<=' if self.goal == 'min' else '>='} {self.value:g}"


class Task(ABC):
    """A workload, registered by a plugin through its class, bound to one ``TaskConfig``."""

    name: ClassVar[str]  # the task's name on the command line, e.g. "char_rnn"
    description: ClassVar[str] = ""  # one line for `rnnbench plugins`
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules the task needs
    install_hint: ClassVar[str] = ""  # the command that makes it available
    config_class: ClassVar[type[TaskConfig]] = TaskConfig  # the options this task accepts
    headline: ClassVar[str] = ""  # the metric a report shows first, a key of ``metrics``

    def __init__(self, config: TaskConfig | None = None) -> None:
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise UsageError(f"config {type(config).__name__} is not valid for task {self.name!r}. "
                             f"Accepted: a {self.config_class.__name__}")
        self.config = config

    def available(self) -> Availability:
        """Ok when every required module can be found; nothing is imported."""
        return modules_availability(self.requires, self.install_hint)

    def with_options(self, **options: object) -> Self:
        """The same task bound to this config with ``options`` changed (validated)."""
        fields = [f.name for f in dataclasses.fields(self.config_class)]
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise UsageError(
                f"Unknown option {unknown[0]!r} for task {self.name!r}. Accepted: {', '.join(fields)}")
        return type(self)(dataclasses.replace(self.config, **options))  # type: ignore[arg-type]

    # ---- what a task defines ----------------------------------------------------

    @abstractmethod
    def recipe(self) -> Recipe:
        """Model size, batch sizes, optimiser and budget of the bound profile."""

    @abstractmethod
    def model_spec(self, cell: Cell) -> ModelSpec:
        """The network for ``cell`` under the bound config."""

    @property
    @abstractmethod
    def seq_len(self) -> int:
        """Time steps T of every batch."""

    @abstractmethod
    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        """Endless training batches from the real data, in an order fixed by ``seed``."""

    @abstractmethod
    def real_eval_arrays(self) -> Batch:
        """The whole evaluation set (x, y), in a fixed order."""

    @abstractmethod
    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        """The task's metrics from the model's outputs ``out`` on evaluation data ``x``, ``y``."""

    def quality_target(self, cell: Cell) -> Target | None:
        """The level a trained ``cell`` should reach on real data; None when the task sets none."""
        return None

    def extras(self, model: Model, seed: int) -> dict[str, object]:
        """Anything kept with the result besides metrics (e.g. sampled text)."""
        return {}

    # ---- what the base class derives ----------------------------------------------

    def optimizer(self, cell: Cell) -> OptimizerSpec:
        """The optimiser for ``cell``; the recipe's unless a task overrides it per cell."""
        return self.recipe().optimizer

    def budget(self) -> Budget:
        return self.recipe().budget

    def target(self, cell: Cell) -> Target | None:
        """The quality target; none in synthetic mode, where the data means nothing."""
        return None if self.config.synthetic else self.quality_target(cell)

    def train_batches(self, seed: int) -> Iterator[Batch]:
        """Endless training batches, the same for the same seed and config."""
        if self.config.synthetic:
            return self._synthetic_batches(seed)
        return self.real_train_batches(seed)

    def eval_arrays(self) -> Batch:
        """The whole evaluation set; in synthetic mode two batches from a fixed stream."""
        if self.config.synthetic:
            rng = np.random.default_rng([SYNTHETIC_STREAM, EVAL_STREAM])
            size = 2 * self.recipe().eval_batch_size
            return synthetic_batch(self.model_spec("lstm"), size, self.seq_len, rng)
        return self.real_eval_arrays()

    def eval_batches(self, limit: int | None = None) -> Iterator[Batch]:
        """The evaluation set in batches of ``eval_batch_size`` (the first ``limit`` batches, if given)."""
        x, y = self.eval_arrays()
        size, stop = self.recipe().eval_batch_size, self.eval_rows(limit)
        for start in range(0, stop, size):
            yield x[start:min(start + size, stop)], y[start:min(start + size, stop)]

    def eval_rows(self, limit: int | None = None) -> int:
        """How many evaluation examples the first ``limit`` batches hold (all of them for None)."""
        total = len(self.eval_arrays()[0])
        return total if limit is None else min(total, limit * self.recipe().eval_batch_size)

    def evaluate(self, model: Model, limit: int | None = None) -> dict[str, float]:
        """The task's metrics of ``model`` on the evaluation set (its first ``limit`` batches, if given)."""
        x, y = self.eval_arrays()
        count = self.eval_rows(limit)
        out = predict_padded(model, x[:count], self.recipe().eval_batch_size)
        return self.metrics(x[:count], y[:count], out)

    def _synthetic_batches(self, seed: int) -> Iterator[Batch]:
        spec, recipe = self.model_spec("lstm"), self.recipe()  # shapes do not depend on the cell
        rng = np.random.default_rng([SYNTHETIC_STREAM, seed])
        while True:
            yield synthetic_batch(spec, recipe.batch_size, self.seq_len, rng)


def predict_padded(model: Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``model.predict`` over ``x`` in batches of exactly ``batch_size``, outputs concatenated.

    The last batch is padded with copies of its first row and the padding
    trimmed off, so a compiling backend (XLA, tf.function) sees one shape.
    """
    outs = []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]  # (b, T, ...)
        short = batch_size - len(chunk)
        if short:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], short, axis=0)])  # (batch_size, T, ...)
        outs.append(np.asarray(model.predict(chunk))[:batch_size - short])
    return np.concatenate(outs)


def synthetic_batch(spec: ModelSpec, batch: int, steps: int, rng: np.random.Generator) -> Batch:
    """One batch with the shapes and dtypes of ``spec``'s data contract, random values."""
    if spec.embedded:
        x = rng.integers(0, spec.vocab_size, (batch, steps), dtype=np.int32)  # type: ignore[arg-type]  # (B, T)
    else:
        x = rng.standard_normal((batch, steps, int(spec.input_features or 0))).astype(spec.dtype)  # (B, T, F)
    if spec.head == "lm":
        y = rng.integers(0, spec.output_size, (batch, steps), dtype=np.int32)  # (B, T)
    elif spec.head == "classify":
        y = rng.integers(0, 2, (batch, spec.output_size)).astype(spec.dtype)  # (B, O)
    else:
        y = rng.standard_normal((batch, spec.output_size)).astype(spec.dtype)  # (B, O)
    return x, y
