"""The measurements a worker can make on a prepared case: throughput, memory, accuracy, latency.

Each mode takes a ``Setup`` (everything built and every batch fetched
before anything is measured) and returns a ``ModeResult``: the status
("ok", or "nan" when the training loss went non-finite, measurements kept)
and the document sections it fills. Exceptions propagate; the worker turns
them into "failed" or "oom".
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from rnnbench.backend import Backend, InferenceModel, Model, has_streaming_step
from rnnbench.case import Case
from rnnbench.errors import UsageError
from rnnbench.flops import forward_flops, train_step_flops
from rnnbench.params import check_state, zero_state
from rnnbench.results.stats import latency_summary, summarize
from rnnbench.spec import ModelSpec, OptimizerSpec
from rnnbench.task import Batch, Budget, Task
from rnnbench.worker.contention import runqueue_seconds, waited_share
from rnnbench.worker.timing import CallTimes, TimingProtocol, Timings, run_protocol, time_each_call

Measured = TypeVar("Measured")  # what a measurement returns: Timings or CallTimes


@dataclass
class Setup:
    """One case, ready to measure."""

    case: Case
    backend: Backend  # configured
    task: Task  # bound to the case's profile, data mode and options
    spec: ModelSpec  # the task's, with the case's size and dtype overrides
    optimizer: OptimizerSpec
    batch_size: int  # B of every batch the modes feed
    seq_len: int  # T of every batch the modes feed
    model: InferenceModel | None = None  # built by the worker's prepare, the same way for every mode
    batches: list[Batch] = field(default_factory=list)  # throughput and memory: pre-fetched, cycled through the calls
    stream: Iterator[Batch] | None = None  # accuracy: the task's seeded training batches, the data loaded
    seconds: float = 0.0  # loading the data and building the model (not the task binding before them)
    # The first training call of this process (compilation included), when the memory pass made it:
    # a throughput case after it in the same process reports this as its first step, so compile time
    # is never hidden by sharing a process.
    first_train_step_s: float | None = None

    def batch_cycle(self) -> Callable[[], Batch]:
        """The next pre-fetched batch on each call, round and round."""
        return itertools.cycle(self.batches).__next__

    def require_model(self) -> InferenceModel:
        if self.model is None:
            raise UsageError(f"mode {self.case.mode!r} needs a built model; the setup has none")
        return self.model

    def require_training_model(self) -> Model:
        """The model, which must train: a mode that trains refuses an inference-only backend in one line."""
        model = self.require_model()
        if not isinstance(model, Model):
            raise UsageError(f"mode {self.case.mode!r} trains, and the model {self.backend.name!r} built does not "
                             "(inference only). Accepted: the throughput mode (its inference half) for it")
        return model


@dataclass(frozen=True)
class ModeResult:
    """What a mode found: its status, the one-line reason when not ok, the sections it fills."""

    status: str  # "ok" or "nan"
    error: str | None
    sections: dict[str, Any]  # e.g. {"throughput": {...}}


# ---- throughput ------------------------------------------------------------------------


def timing_section(timings: Timings, batch: int, steps: int, flops: int) -> dict[str, Any]:
    """One timed call kind (train or infer): raw samples, their summary, the rates and the protocol.

    Two rates with two names: ``samples_per_s`` is total items over total
    time (every timed call), ``samples_per_s_at_median`` is the batch over
    the median seconds per call (what the reports rank by, robust to stalls).
    """
    summary = summarize(timings.samples)
    return {"first_step_s": timings.first_step, "samples_s": list(timings.samples), "summary": summary.to_dict(),
            "unstable": summary.unstable, "samples_per_s": timings.rate(batch),
            "samples_per_s_at_median": batch / summary.median, "tokens_per_s": timings.rate(batch * steps),
            "gflops": timings.rate(flops) / 1e9, **timings.protocol()}


def time_training(setup: Setup) -> tuple[Timings, float | None]:
    """The protocol over ``train_step``, each call on the next pre-fetched batch; and the CPU wait share."""
    model, next_batch = setup.require_training_model(), setup.batch_cycle()
    protocol = TimingProtocol(setup.case.warmup, setup.case.steps)
    return watched(lambda: run_protocol(lambda: model.train_step(*next_batch()), model.synchronize, protocol))


def time_inference(setup: Setup) -> tuple[Timings, float | None]:
    """The protocol over ``predict`` on the same batches; and the CPU wait share."""
    model, next_batch = setup.require_model(), setup.batch_cycle()
    protocol = TimingProtocol(setup.case.warmup, setup.case.steps)
    return watched(lambda: run_protocol(lambda: model.predict(next_batch()[0]), model.synchronize, protocol))


def watched(measure: Callable[[], Measured]) -> tuple[Measured, float | None]:
    """``measure()``, and how long this process's threads waited for a CPU meanwhile, as a share of its wall time."""
    before, begun = runqueue_seconds(), time.perf_counter()
    timings = measure()
    return timings, waited_share(before, runqueue_seconds(), time.perf_counter() - begun)


def throughput(setup: Setup) -> ModeResult:
    """Training then inference timings (inference alone for a backend that does not train); status "nan"
    when training ended on a non-finite loss."""
    trains = isinstance(setup.require_model(), Model)  # an inference runtime or an export path does not
    train, problem = training_section(setup) if trains else (None, None)
    b, t = setup.batch_size, setup.seq_len
    inferred, infer_wait = time_inference(setup)
    infer = timing_section(inferred, b, t, forward_flops(setup.spec, b, t)) | {"cpu_wait_share": infer_wait}
    # The gradients cost a loss_and_grads call (and a compile, for jax and TensorFlow): once per case, in its
    # first round; the parameters, read for free, in every process.
    subnormal = subnormal_fractions(setup.require_model(), setup.batches[0], grads=trains and setup.case.repeat == 0)
    return ModeResult("nan" if problem else "ok", problem,
                      {"throughput": {"train": train, "infer": infer}, "subnormal": subnormal})


def training_section(setup: Setup) -> tuple[dict[str, Any], str | None]:
    """The training timings' section, and why training went non-finite (None when it did not)."""
    b, t = setup.batch_size, setup.seq_len
    trained, train_wait = time_training(setup)
    loss, problem = loss_check(setup.require_training_model(), trained.all_calls)
    # The loss after all_calls training calls: the count follows the calibrated block size, so two
    # processes' last losses compare only at equal counts.
    train = timing_section(trained, b, t, train_step_flops(setup.spec, b, t)) | {
        "last_loss": loss, "training_calls": trained.all_calls, "cpu_wait_share": train_wait}
    if setup.first_train_step_s is not None:  # the memory pass made the process's first call
        train |= {"first_step_s": setup.first_train_step_s, "first_call_of_this_pass_s": trained.first_step,
                  "first_step_of": "the memory pass before it in this process (the process's first training call)"}
    return train, problem


def subnormal_fractions(model: InferenceModel, batch: Batch, grads: bool = True) -> dict[str, float | None]:
    """The share of subnormal values among the parameters and the gradients at the end of the timed steps.

    Read from the canonical arrays after timing, so it costs nothing in the
    timed region. Arithmetic on subnormals is many times slower on x86 unless
    the framework flushes them (NumPy cannot), so a high share explains a
    slow process that nothing else does.
    """
    params = _subnormal_share(model.get_params().values())
    if not grads or not isinstance(model, Model):
        return {"params": params, "grads": None}
    return {"params": params, "grads": _subnormal_share(model.loss_and_grads(*batch)[1].values())}


def _subnormal_share(arrays: Iterable[np.ndarray]) -> float:
    found = total = 0
    for array in arrays:
        values = np.abs(np.asarray(array))
        if values.dtype.kind != "f":
            continue
        found += int(np.count_nonzero((values > 0) & (values < np.finfo(values.dtype).tiny)))
        total += values.size
    return found / total if total else 0.0


def loss_check(model: Model, steps: int) -> tuple[float | None, str | None]:
    """The latest loss and, when training went non-finite, why; read after timing.

    A backend that cannot report its loss is checked through its parameters:
    a non-finite loss gives non-finite gradients, and the update spreads them.
    """
    loss = model.last_loss()
    if loss is not None:
        bad = not math.isfinite(loss)
        return loss, f"non-finite training loss ({loss}) after {steps} training steps" if bad else None
    broken = sorted(name for name, value in model.get_params().items() if not np.all(np.isfinite(value)))
    if broken:
        return None, f"non-finite parameters ({', '.join(broken[:3])}) after {steps} training steps"
    return None, None


# ---- memory -----------------------------------------------------------------------------


def memory(setup: Setup) -> ModeResult:
    """Peak RSS above the post-setup baseline: the first step apart, then ``memory_steps`` more."""
    from rnnbench.worker.memory import PeakTracker, current_rss

    model, next_batch, steps = setup.require_training_model(), setup.batch_cycle(), setup.case.memory_steps
    gc.collect()  # setup garbage must not count as training memory, nor its release hide a peak
    baseline = current_rss()
    with PeakTracker() as tracker:
        begun = time.perf_counter()
        model.train_step(*next_batch())
        model.synchronize()
        setup.first_train_step_s = time.perf_counter() - begun
        first = tracker.take_peak()
        for _ in range(steps):
            model.train_step(*next_batch())
        model.synchronize()
        steady = tracker.take_peak() if steps else None
    _, problem = loss_check(model, 1 + steps)
    peak = max(first, steady or 0)
    device = model.device_memory()
    section = {
        "baseline_rss_bytes": baseline, "peak_rss_bytes": peak, "peak_above_baseline_bytes": peak - baseline,
        "first_step_peak_above_baseline_bytes": first - baseline,
        "steady_peak_above_baseline_bytes": None if steady is None else steady - baseline,
        "first_step_s": setup.first_train_step_s, "steps": 1 + steps, "samples": tracker.samples,
        "interval_s": tracker.interval_s,
        "source": tracker.source, "device": None if device is None else dataclasses.asdict(device)}
    return ModeResult("nan" if problem else "ok", problem, {"memory": section})


# ---- accuracy ---------------------------------------------------------------------------


def accuracy(setup: Setup) -> ModeResult:
    """Train the setup's model within the profile's budget (capped by the case) and evaluate; "nan" when it
    diverged. The training loop of ``rnnbench.train``, over the model and batch stream the setup prepared."""
    from rnnbench.worker.training import Trainee, train_model

    case = setup.case
    if case.batch_size is not None or case.seq_len is not None:
        raise UsageError("accuracy mode trains on the task's own batches. Accepted: batch_size and seq_len "
                         "unset (overrides are for the throughput and memory modes)")
    assert setup.stream is not None, "prepare() gives every accuracy case a stream of its own"
    trainee = Trainee(setup.backend, setup.task, setup.spec, setup.require_training_model(), setup.stream, case.seed,
                      case.device, setup.seconds)
    result = train_model(trainee, capped_budget(setup.task.budget(), case), case.stop_at_target)
    diverged = result.status == "diverged"
    return ModeResult("nan" if diverged else "ok", result.reason if diverged else None,
                      {"accuracy": result.to_dict()})


def capped_budget(budget: Budget, case: Case) -> Budget:
    """The task's budget under the case's caps on training seconds and evaluation batches."""
    changes: dict[str, Any] = {}
    if case.accuracy_seconds is not None:
        changes["max_seconds"] = min(budget.max_seconds or math.inf, case.accuracy_seconds)
    if case.eval_batches is not None:
        changes["eval_batches"] = min(budget.eval_batches or case.eval_batches, case.eval_batches)
        changes["final_eval_batches"] = min(budget.final_eval_batches or case.eval_batches, case.eval_batches)
    return dataclasses.replace(budget, **changes)


# ---- latency ----------------------------------------------------------------------------

STREAM_CALLS_PER_CALL = 2  # streaming steps timed per whole-sequence call: a step is T times shorter
SAMPLE_DIGITS = 4  # significant digits each latency call is stored with: 0.01%, far below any call's spread
# Calls discarded after the first, at least: the second and third calls of a framework still allocate,
# pick kernels or specialise (torch's oneDNN primitives, XLA's executables), which no steady request pays.
LATENCY_WARMUP = 4


def latency(setup: Setup) -> ModeResult:
    """Serving latency at the case's batch (1 unless set): each whole-sequence ``predict`` timed on its own,
    then each streaming ``step`` with the state carried (reset to zeros at each sequence's end); the first
    call of each apart. A model without a step gets streaming None and the reason."""
    model, case = setup.require_model(), setup.case
    inputs = itertools.cycle([x for x, _ in setup.batches]).__next__
    warmup = max(case.warmup - 1, LATENCY_WARMUP)
    whole, whole_wait = watched(lambda: time_each_call(lambda: model.predict(inputs()), model.synchronize,
                                                       case.latency_calls, warmup, case.latency_budget_s))
    section: dict[str, Any] = {"batch_size": setup.batch_size, "seq_len": setup.seq_len,
                               "whole": latency_section(whole) | {"cpu_wait_share": whole_wait},
                               "streaming": None, "streaming_missing": None}
    if has_streaming_step(model):
        steps, wait = watched(lambda: time_each_call(streamer(setup, model), model.synchronize,
                                                     case.latency_calls * STREAM_CALLS_PER_CALL, warmup,
                                                     case.latency_budget_s))
        section["streaming"] = latency_section(steps) | {"cpu_wait_share": wait}
    else:
        section["streaming_missing"] = f"the models of backend {case.backend!r} have no streaming step"
    return ModeResult("ok", None, {"latency": section})


def streamer(setup: Setup, model: InferenceModel) -> Callable[[], object]:
    """One streaming step per call over the pre-fetched sequences, step after step, the state carried; a new
    sequence starts from the zero state, as a service's next stream does.

    The steps of a checked batch are valid inputs, and the state a model returns is checked once, on its
    first step: a step need not check its inputs, and a check in every call would be timed as its latency."""
    def steps() -> Iterator[object]:
        checked = False
        for x, _ in itertools.cycle(setup.batches):
            state = zero_state(setup.spec, setup.batch_size)
            for t in range(setup.seq_len):
                output, state = model.step(x[:, t], state)
                if not checked:
                    check_state(setup.spec, state, setup.batch_size)
                    checked = True
                yield output
    return steps().__next__


def latency_section(times: CallTimes) -> dict[str, Any]:
    """One latency measurement: the first call, every timed call, their quantiles, and how they were taken."""
    stored = [float(f"{s:.{SAMPLE_DIGITS}g}") for s in times.samples]  # the quantiles come from the exact values
    return {"first_call_s": times.first_call, "samples_s": stored, **latency_summary(times.samples),
            "warmup_calls": times.warmup_calls, "budget_s": times.budget_s, "protocol": times.protocol}


MODES: dict[str, Callable[[Setup], ModeResult]] = {"throughput": throughput, "memory": memory,
                                                   "accuracy": accuracy, "latency": latency}
