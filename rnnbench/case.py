"""One case of the benchmark matrix: what a worker process is asked to run.

A case is a backend x task x cell x device x configuration x mode. It
crosses the process boundary as JSON (``to_dict``/``from_dict``) and is
identified by ``case_id``, the key ``--resume`` uses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rnnbench.errors import UsageError

if TYPE_CHECKING:
    from rnnbench.spec import ModelSpec
    from rnnbench.task import Task

Mode = Literal["throughput", "memory", "accuracy", "latency"]
MODES: tuple[Mode, ...] = ("throughput", "memory", "accuracy", "latency")
DEFAULT_MODES: tuple[Mode, ...] = ("throughput", "memory", "accuracy")  # a run's modes unless --mode is given
# The timed modes: one process per case and round, the statistical unit of their tests (memory and accuracy
# are measured once).
TIMED_MODES: tuple[Mode, ...] = ("throughput", "latency")
LATENCY_BATCH = 1  # the latency mode's batch unless the case sets one: one request at a time
# The modes that need a backend that trains (Backend.trains): a run records these cases of an inference-only
# backend as skipped, with the reason; throughput measures such a backend's inference half alone.
TRAINING_MODES: tuple[Mode, ...] = ("memory", "accuracy")
INFERENCE_ONLY = "does not train (inference only)"  # in the reason of each such skipped case, which reports count apart


@dataclass(frozen=True)
class Case:
    """Everything a worker needs to run one measurement, and nothing it must look up."""

    backend: str
    task: str
    cell: str
    device: str  # "cpu" or "gpu:N" (rnnbench.backend's device names)
    mode: Mode
    profile: str = "quick"  # the task profile: smoke, quick or full
    synthetic: bool = False  # seeded random batches of the real shapes instead of the data
    seed: int = 0  # weights (init_params) and batch order
    dtype: str = "float32"  # the precision: a dtype, or mixed precision (rnnbench.spec.PRECISIONS)
    batch_size: int | None = None  # None: the task recipe's; set: synthetic batches of this size
    seq_len: int | None = None  # None: the task's; set: synthetic batches of this length
    hidden_size: int | None = None  # None: the task recipe's
    num_layers: int | None = None  # None: the task recipe's
    threads: int = 1  # CPU threads (affinity and framework setting) for every framework
    flush_denormals: bool = False  # the "tuned" denormal setting; False keeps each framework's default
    warmup: int = 3  # throughput: calls before timing, the first timed apart (compile)
    steps: int = 20  # throughput: timed samples, each a calibrated block of calls (rnnbench.worker.timing)
    latency_calls: int = 200  # latency: calls timed one by one, per measurement (whole sequence; steps x2)
    latency_budget_s: float = 3.0  # latency: a measurement stops once this much is timed (past 20 calls); the
    # full profile's (rnnbench.manager.options.PROFILES sets every profile's)
    memory_steps: int = 5  # memory: training steps while resident memory is sampled
    memory_limit_mb: int | None = None  # address-space limit of the worker (RLIMIT_AS); None: none
    accuracy_seconds: float | None = None  # accuracy: cap on training wall time; None: the profile's budget
    eval_batches: int | None = None  # accuracy: cap on evaluation batches; None: the profile's
    stop_at_target: bool = False  # accuracy: end training at the first whole evaluation that meets the target
    repeat: int = 0  # which round of an interleaved, repeated matrix this is
    implementation: str | None = None  # Backend.implementations() name; None: the backend's default for device/spec
    task_options: dict[str, Any] = field(default_factory=dict)  # extra TaskConfig fields

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"mode={self.mode!r} is not valid. Accepted: {', '.join(MODES)}")

    @property
    def shape_label(self) -> str:
        """The configuration part of the id: only the overrides, in a fixed order."""
        parts = [f"{key[0].upper()}{value}" for key, value in (
            ("batch_size", self.batch_size), ("seq_len", self.seq_len),
            ("hidden_size", self.hidden_size), ("num_layers", self.num_layers)) if value is not None]
        if self.implementation is not None:  # the default keeps the ids of runs made before implementations
            parts.append(f"impl={self.implementation}")
        if self.flush_denormals:  # likewise: only the non-default setting shows
            parts.append("ftz")
        if self.stop_at_target:
            parts.append("to-target")
        return "-".join(parts) or "default"

    @property
    def case_id(self) -> str:
        """The case, round included: the key --resume uses."""
        return self._id(f"-r{self.repeat}")

    @property
    def case_key(self) -> str:
        """The case without its round: the rounds of a case, and the same case in two runs, share it."""
        return self._id("")

    def _id(self, round_part: str) -> str:
        options = ",".join(f"{k}={v}" for k, v in sorted(self.task_options.items()))
        data = "synthetic" if self.synthetic else "data"
        suffix = f"/{options}" if options else ""
        return (f"{self.backend}/{self.task}/{self.cell}/{self.device}/{self.mode}/"
                f"{self.profile}-{data}-{self.dtype}-{self.shape_label}-t{self.threads}-s{self.seed}{round_part}"
                f"{suffix}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"case field {unknown[0]!r} is not valid. Accepted: {', '.join(sorted(known))}")
        return cls(**data)


def case_spec(task: Task, case: Case) -> ModelSpec:
    """The task's spec for the cell, with the case's hidden size, layers and precision: the network the case runs."""
    from rnnbench.spec import precision_fields

    sizes = {"hidden_size": case.hidden_size, "num_layers": case.num_layers}
    overrides: dict[str, Any] = {key: value for key, value in sizes.items() if value is not None}
    return dataclasses.replace(task.model_spec(case.cell), **precision_fields(case.dtype), **overrides)  # type: ignore[arg-type]
