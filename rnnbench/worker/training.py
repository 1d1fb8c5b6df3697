"""Train one cell of one task on one backend within a profile's budget: the accuracy mode.

``train`` draws the initial parameters from the seed (``init_params``),
feeds the task's seeded batches to ``Model.train_step`` and evaluates on the
task's schedule, keeping the learning curve. Nothing else runs between two
steps: the training loss is read back (``Model.last_loss``) only at
evaluation points, after ``synchronize`` (or after every step, when the
budget asks for the per-step curve of the equal-step comparison), and the
time spent evaluating is excluded from the training time. A non-finite loss or metric stops the run
with status ``diverged``; it never raises.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal, cast

from rnnbench.backend import Backend, Model, ParitySettings
from rnnbench.errors import BackendUnavailable, UsageError
from rnnbench.kit import check_batch
from rnnbench.params import init_params
from rnnbench.spec import CELLS, Cell, ModelSpec, OptimizerSpec
from rnnbench.task import Batch, Budget, Profile, Target, Task

Status = Literal["completed", "time_limit", "target_reached", "diverged"]
Clock = Callable[[], float]


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation during training."""

    step: int  # optimiser steps done
    train_seconds: float  # training wall time so far, evaluations excluded
    wall_seconds: float  # wall time since training started, earlier evaluations included
    train_loss: float | None  # loss of the latest step (None at step 0, or when the backend cannot say)
    metrics: dict[str, float]  # the task's metrics
    eval_batches: int | None  # the cap on evaluation batches; None: no cap
    eval_rows: int  # evaluation examples scored
    eval_whole: bool  # whether those are the whole evaluation set (only then does the target count)


@dataclass(frozen=True)
class TimeToTarget:
    """The first evaluation of the whole evaluation set at which the target was met.

    Evaluations of a part of the set do not count: the target is a level of
    the task's metric, which is defined on the whole set.
    """

    step: int
    train_seconds: float  # evaluations excluded
    wall_seconds: float  # earlier evaluations included


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """Everything one training run measured, JSON-ready through ``to_dict``."""

    backend: str
    task: str
    cell: Cell
    profile: Profile
    seed: int
    device: str
    options: dict[str, object]  # the task's config
    spec: ModelSpec
    optimizer: OptimizerSpec
    budget: Budget
    status: Status
    reason: str  # one line: why training stopped
    steps: int
    train_seconds: float  # evaluations excluded
    wall_seconds: float  # from the step-0 evaluation to the end of the final one
    first_step_seconds: float | None  # the first step alone (compilation included where a backend compiles)
    setup_seconds: float  # data loading, parameter drawing and build, before the first step
    curve: tuple[CurvePoint, ...]
    step_losses: tuple[float | None, ...]  # the loss of every step, when the budget asks (loss_every_step), else ()
    final_metrics: dict[str, float]  # the last evaluation (over final_eval_batches)
    target: Target | None
    time_to_target: TimeToTarget | None
    extras: dict[str, object] = field(default_factory=dict)  # e.g. sampled text for char_rnn
    runtime: dict[str, object] = field(default_factory=dict)  # kernel path, settings, versions

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types; a non-finite number becomes None (the status says why)."""
        return cast("dict[str, object]", _finite(asdict(self)))


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def train(backend: Backend | str, task: Task | str, cell: Cell, *, profile: Profile | None = None,
          seed: int = 0, device: str = "cpu", settings: ParitySettings | None = None,
          budget: Budget | None = None, stop_at_target: bool = False,
          on_eval: Callable[[CurvePoint], None] | None = None,
          clock: Clock = time.perf_counter, spec: ModelSpec | None = None) -> TrainResult:
    """Train ``cell`` on ``task`` with ``backend`` and evaluate it.

    ``profile`` rebinds the task to that profile (else the task's own);
    ``settings``, if given, is applied with ``backend.configure`` first;
    ``budget`` replaces the profile's; ``stop_at_target`` ends the run at
    the first evaluation that meets the task's target; ``on_eval`` is
    called with each curve point as it is added (outside the timing), e.g.
    to show progress; ``spec`` replaces the task's network for ``cell``.
    """
    backend, task = _resolve(backend, task, profile)
    if cell not in CELLS:
        raise UsageError(f"cell={cell!r} is not valid. Accepted: {', '.join(CELLS)}")
    started = clock()
    applied = backend.configure(settings) if settings is not None else {}
    spec = spec or task.model_spec(cell)
    stream = training_batches(task, spec, seed)
    model = backend.build(spec, init_params(spec, seed), task.optimizer(spec.cell), device)
    return train_model(Trainee(backend, task, spec, model, stream, seed, device, clock() - started, applied),
                       budget, stop_at_target, on_eval, clock)


@dataclass
class Trainee:
    """A built model and the batch stream it trains on: what ``train`` prepares, and the worker's accuracy mode
    (whose setup builds the model as for every mode)."""

    backend: Backend  # configured
    task: Task  # bound to its profile and options
    spec: ModelSpec
    model: Model  # built from init_params(spec, seed) with the task's optimiser for the cell
    batches: Iterator[Batch]  # training_batches(task, spec, seed)
    seed: int
    device: str
    setup_seconds: float  # data loading, parameter drawing and build, before the first step
    applied: dict[str, str] = field(default_factory=dict)  # what backend.configure applied


def training_batches(task: Task, spec: ModelSpec, seed: int) -> Iterator[Batch]:
    """The task's seeded training batches, the data loaded now (evaluation set included), outside any timing;
    the first batch checked against the data contract, once, the same for every backend."""
    task.eval_arrays()  # loads (and caches) the evaluation data now
    batches = task.train_batches(seed)
    first = next(batches)  # loads the training data now
    check_batch(spec, *first)
    return itertools.chain([first], batches)


def train_model(trainee: Trainee, budget: Budget | None = None, stop_at_target: bool = False,
                on_eval: Callable[[CurvePoint], None] | None = None, clock: Clock = time.perf_counter) -> TrainResult:
    """Train ``trainee``'s model within ``budget`` (else its task's) and evaluate it; see ``train``."""
    task, spec = trainee.task, trainee.spec
    cell = spec.cell
    run = _Run(spec, task.optimizer(cell), budget or task.budget(), task.target(cell), trainee.model,
               trainee.batches)
    loop = _Loop(run, task, stop_at_target, clock, on_eval)
    loop.run()
    extras = {} if loop.status == "diverged" else task.extras(run.model, trainee.seed)
    return TrainResult(
        backend=trainee.backend.name, task=task.name, cell=cell, profile=task.config.profile, seed=trainee.seed,
        device=trainee.device, options=task.config.options(), spec=spec, optimizer=run.optimizer,
        budget=run.budget, status=loop.status, reason=loop.reason, steps=loop.step,
        train_seconds=loop.watch.train_seconds(), wall_seconds=loop.watch.wall_seconds(),
        first_step_seconds=loop.first_step_seconds, setup_seconds=trainee.setup_seconds, curve=tuple(loop.curve),
        step_losses=tuple(loop.step_losses), final_metrics=loop.curve[-1].metrics,
        target=run.target, time_to_target=loop.time_to_target, extras=extras,
        runtime=_runtime(trainee.backend, run.model, trainee.applied))


def _resolve(backend: Backend | str, task: Task | str, profile: Profile | None) -> tuple[Backend, Task]:
    """Instances for names (through the plugin registry), checked to be runnable here."""
    if isinstance(backend, str) or isinstance(task, str):
        from rnnbench.plugins.registry import Registry

        registry = Registry()
        backend = registry.available_backend(backend) if isinstance(backend, str) else backend
        task = registry.task(task) if isinstance(task, str) else task
    if not backend.available().ok:
        raise BackendUnavailable(backend.available().message(backend.name))
    status = task.available()
    if not status.ok:
        hint = f"; install it with: {status.install_hint}" if status.install_hint else ""
        raise UsageError(f"Task {task.name!r} is not available: {status.reason}{hint}")
    return backend, task if profile is None else task.with_options(profile=profile)


def _runtime(backend: Backend, model: Model, applied: dict[str, str]) -> dict[str, object]:
    info = model.runtime_info()
    return {"kernel_path": info.kernel_path, "settings": {**applied, **info.settings},
            "versions": backend.versions()}


@dataclass
class _Run:
    """What the loop reads: the network, its optimiser, budget and target, the model and its batches."""

    spec: ModelSpec
    optimizer: OptimizerSpec
    budget: Budget
    target: Target | None
    model: Model
    batches: Iterator[Batch]


class _Stopwatch:
    """Wall time since ``start``, and the part of it not spent paused (evaluating)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started = clock()
        self.excluded = 0.0  # seconds spent paused
        self.paused_at: float | None = None
        self.stopped_at: float | None = None

    def pause(self) -> None:
        self.paused_at = self.clock()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.excluded += self.clock() - self.paused_at
            self.paused_at = None

    def stop(self) -> None:
        self.resume()
        if self.stopped_at is None:
            self.stopped_at = self.clock()

    def now(self) -> float:
        return self.stopped_at if self.stopped_at is not None else self.clock()

    def wall_seconds(self) -> float:
        return self.now() - self.started

    def train_seconds(self) -> float:
        """Time not paused; while paused, the time up to the pause."""
        end = self.paused_at if self.paused_at is not None else self.now()
        return end - self.started - self.excluded


class _Loop:
    """The training loop of one run and what it found."""

    def __init__(self, setup: _Run, task: Task, stop_at_target: bool, clock: Clock,
                 on_eval: Callable[[CurvePoint], None] | None = None) -> None:
        self.setup, self.task, self.stop_at_target, self.on_eval = setup, task, stop_at_target, on_eval
        self.watch = _Stopwatch(clock)
        self.step = 0
        self.curve: list[CurvePoint] = []
        self.step_losses: list[float | None] = []  # filled only when the budget asks for every step's loss
        self.status: Status = "completed"
        self.reason = ""
        self.first_step_seconds: float | None = None
        self.time_to_target: TimeToTarget | None = None
        self.finishing = False  # the final evaluation is running: the stop reason is already decided

    def run(self) -> None:
        budget, model = self.setup.budget, self.setup.model
        if self._evaluate(budget.eval_batches):  # the starting point of the curve
            self._finish(budget)
            return
        for x, y in self.setup.batches:
            model.train_step(x, y)
            self.step += 1
            if budget.loss_every_step:  # a host sync per step: the per-step curve the equal-step check compares
                self.step_losses.append(model.last_loss())
            if self.step == 1:  # one extra barrier, to time the first step (compilation) alone
                model.synchronize()
                self.first_step_seconds = self.watch.train_seconds()
            due = self.step % budget.eval_every == 0
            if self._budget_spent(budget) or (due and self._evaluate(budget.eval_batches)):
                self._finish(budget)
                return

    def _finish(self, budget: Budget) -> None:
        """The final evaluation (unless the run diverged or the last point already is one), then stop."""
        last = self.curve[-1]
        done = (last.step, last.eval_batches) == (self.step, budget.final_eval_batches)
        self.finishing = True
        if self.status != "diverged" and not done:
            self._evaluate(budget.final_eval_batches)
        self.watch.stop()

    def _budget_spent(self, budget: Budget) -> bool:
        if self.step >= budget.max_steps:
            self.status, self.reason = "completed", f"step budget of {budget.max_steps} steps done"
            return True
        if budget.max_seconds is not None and self.watch.train_seconds() >= budget.max_seconds:
            self.status = "time_limit"
            self.reason = f"time budget of {budget.max_seconds:g} s spent after {self.step} steps"
            return True
        return False

    def _evaluate(self, batches: int | None) -> bool:
        """Add a curve point; True when training must stop here (diverged, or target met and stopping)."""
        model = self.setup.model
        model.synchronize()
        self.watch.pause()
        train_seconds = self.watch.train_seconds()
        wall_seconds = self.watch.wall_seconds()  # before this evaluation
        loss = model.last_loss() if self.step else None
        metrics = self.task.evaluate(model, batches)
        rows, total = self.task.eval_rows(batches), self.task.eval_rows(None)
        point = CurvePoint(self.step, train_seconds, wall_seconds, loss, metrics, batches, rows, rows == total)
        self.curve.append(point)
        if self.on_eval is not None:
            self.on_eval(point)
        self.watch.resume()
        return self._diverged(point) or self._target_stop(point)

    def _diverged(self, point: CurvePoint) -> bool:
        bad = [name for name, v in point.metrics.items() if not math.isfinite(v)]
        if point.train_loss is not None and not math.isfinite(point.train_loss):
            bad.insert(0, f"training loss ({point.train_loss})")
        if not bad:
            return False
        self.status = "diverged"
        self.reason = f"non-finite {', '.join(bad)} at step {point.step}; training stopped"
        return True

    def _target_stop(self, point: CurvePoint) -> bool:
        """Record the first time the target is met; True when that should end the run."""
        target = self.setup.target
        if target is None or self.time_to_target is not None or not point.eval_whole:
            return False
        if not target.reached(point.metrics):
            return False
        self.time_to_target = TimeToTarget(point.step, point.train_seconds, point.wall_seconds)
        if not self.stop_at_target or self.finishing:
            return False
        self.status = "target_reached"
        self.reason = f"target {target.describe()} met at step {point.step}"
        return True
