"""Micro-benchmarks of one backend x cell: forward (predict) and one training step, under pytest-benchmark.

The same code times rnnbench's own backends (tests/benchmarks/test_micro.py)
and any third-party one (``pytest --rnnbench-backend NAME``). Each benchmark:

- builds the model from ``init_params(spec, 0)`` on a dense-input LSTM/GRU/RNN
  with a one-value regression head (input width = hidden size), Adam with
  clipping, float32;
- times the first call on its own (compile, caches: ``first_call_s``), then
  runs pytest-benchmark in pedantic mode with fixed warm-up and rounds; every
  call ends with ``synchronize()``, so each one is timed to the end of its
  device work and starts on an idle device;
- makes each round at least ``MIN_BLOCK_S`` long with the main run's own
  calibration (``rnnbench.worker.timing``): calls shorter than that run
  several times per round (``iterations``, from the fastest of
  ``CALIBRATION_CALLS`` calls after the first; pytest-benchmark reports
  seconds per call). A round of a single sub-millisecond call would measure
  the scheduler of a busy machine: one moment off the CPU costs more than
  the call itself;
- puts what a report needs in ``extra_info``: backend, cell, kind, shape,
  device, the kernel path and settings the backend reports, the matmul FLOPs
  of the call (rnnbench/flops.py) and the achieved GFLOP/s (total FLOPs over total time).
  ``rnnbench.results.pytest_benchmark`` turns such a benchmark into a throughput record.

Ids read ``torch-lstm-H512-B64-T50`` (backend, cell, hidden size, batch, time
steps), with ``-<device>`` appended off the CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from rnnbench.flops import forward_flops, train_step_flops
from rnnbench.spec import CELLS, ModelSpec, OptimizerSpec
from rnnbench.worker.timing import CALIBRATION_CALLS, MIN_BLOCK_S, calls_per_sample

if TYPE_CHECKING:
    from rnnbench.backend import Backend, Model
    from rnnbench.plugins.registry import Registry

# extra_info["rnnbench"]: marks a benchmark made here, and the version of its extra_info layout.
FORMAT = 1
KINDS = ("forward", "train_step")
OPTIMIZER = OptimizerSpec("adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=1.0)


@dataclass(frozen=True)
class MicroShape:
    """One workload size."""

    label: str  # "small" (latency bound, the CI pass) or "medium" (compute bound, marked slow)
    hidden_size: int  # H, also the width of the dense input
    batch_size: int  # B
    seq_len: int  # T
    warmup: int  # untimed rounds after the first call
    rounds: int  # timed rounds, one call each


SHAPES = (
    MicroShape("small", hidden_size=64, batch_size=32, seq_len=25, warmup=2, rounds=10),
    MicroShape("medium", hidden_size=512, batch_size=64, seq_len=50, warmup=1, rounds=5),
)


@dataclass(frozen=True)
class MicroCase:
    """One backend x cell x shape x device."""

    backend: str
    cell: str
    shape: MicroShape
    device: str = "cpu"
    dtype: str = "float32"

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.workload}"

    @property
    def workload(self) -> str:
        """The id without the backend: ``lstm-H512-B64-T50``, the same for every backend."""
        s = self.shape
        suffix = "" if self.device == "cpu" else f"-{self.device}"
        return f"{self.cell}-H{s.hidden_size}-B{s.batch_size}-T{s.seq_len}{suffix}"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MicroCase:
        """The case ``dataclasses.asdict`` gave (pytest params are plain dicts so that
        pytest-benchmark can write them to its JSON)."""
        return cls(**{**values, "shape": MicroShape(**values["shape"])})

    def spec(self) -> ModelSpec:
        h = self.shape.hidden_size
        return ModelSpec(self.cell, h, "regress", 1, input_features=h, dtype=self.dtype)  # type: ignore[arg-type]

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """A seeded dense batch: x (B, T, H), y (B, 1)."""
        s, rng = self.shape, np.random.Generator(np.random.PCG64(0))
        x = rng.standard_normal((s.batch_size, s.seq_len, s.hidden_size)).astype(self.dtype)  # (B, T, H)
        y = rng.standard_normal((s.batch_size, 1)).astype(self.dtype)  # (B, 1)
        return x, y


def micro_params(registry: Registry, backends: tuple[str, ...], device: str = "cpu",
                 cells: tuple[str, ...] = CELLS, shapes: tuple[MicroShape, ...] = SHAPES) -> list[Any]:
    """pytest params of every backend x cell x shape: medium ones marked slow, unavailable ones skipped.

    Each value is a MicroCase as a dict (``MicroCase.from_dict`` reads it back).
    """
    params = []
    for name in backends:
        status = registry.backend(name).available()
        skip = [] if status.ok else [pytest.mark.skip(reason=status.message(name))]
        for shape in shapes:
            slow = [pytest.mark.slow] if shape.label != "small" else []
            for cell in cells:
                case = MicroCase(name, cell, shape, device)
                params.append(pytest.param(dataclasses.asdict(case), id=case.id, marks=[*skip, *slow]))
    return params


@dataclass(frozen=True)
class Configured:
    """A backend after ``configure``, and what it applied."""

    backend: Backend
    threads: int  # every CPU this process may use
    applied: dict[str, str]  # what configure() returned


# Backend name -> its configured instance: the parity settings are process-wide (TensorFlow
# accepts its thread pools only once), and a backend may keep them on the instance.
_CONFIGURED: dict[str, Configured] = {}


def configured(backend: Backend) -> Configured:
    """``backend`` set to every usable CPU, framework defaults otherwise; skip if that cannot be done here."""
    from rnnbench.backend import ParitySettings
    from rnnbench.errors import UsageError
    from rnnbench.host import usable_cpus

    if backend.name not in _CONFIGURED:
        threads = len(usable_cpus())
        try:
            _CONFIGURED[backend.name] = Configured(backend, threads, backend.configure(ParitySettings(threads)))
        except UsageError as exc:  # e.g. TensorFlow already ran with other thread pools in this process
            pytest.skip(f"run this benchmark in its own process: {exc}")
    return _CONFIGURED[backend.name]


def run_micro(benchmark: Any, backend: Backend, case: MicroCase, kind: str,
              rounds: int | None = None, warmup: int | None = None) -> None:
    """Time ``kind`` ("forward" or "train_step") of ``case`` on pytest-benchmark's ``benchmark`` fixture."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not valid. Accepted: {', '.join(KINDS)}")
    implementation = backend.implementation_for(case.device, case.spec())
    if kind == "train_step" and not backend.trains_with(implementation, case.device):
        who = f"backend {backend.name!r}" if not backend.trains else \
            f"implementation {implementation!r} of backend {backend.name!r}"
        pytest.skip(f"{who} does not train (inference only): its forward pass is benchmarked")
    setup = configured(backend)
    backend, spec = setup.backend, case.spec()
    from rnnbench.params import init_params

    model = backend.build(spec, init_params(spec, seed=0), OPTIMIZER, device=case.device)
    call = _timed_call(model, kind, *case.batch())
    first = _seconds(call)  # compile and first-touch costs, reported apart from the rounds
    iterations = calls_per_sample(min(_seconds(call) for _ in range(CALIBRATION_CALLS)), MIN_BLOCK_S)
    rounds, warmup = rounds or case.shape.rounds, case.shape.warmup if warmup is None else warmup
    benchmark.group = f"{kind} {case.workload}"  # the backends side by side per cell and shape
    benchmark.pedantic(call, rounds=rounds, warmup_rounds=warmup, iterations=iterations)
    if benchmark.stats is None:  # --benchmark-disable: the call ran once, nothing was timed
        return
    timing = {"rounds": rounds, "warmup": warmup, "iterations": iterations, "min_block_s": MIN_BLOCK_S}
    benchmark.extra_info.update(extra_info(setup, model, case, kind, first) | timing)
    flops = benchmark.extra_info["flops"]
    benchmark.extra_info["gflops"] = flops / benchmark.stats.stats.mean / 1e9  # total FLOPs / total time


def _timed_call(model: Model, kind: str, x: np.ndarray, y: np.ndarray) -> Any:
    def forward() -> None:
        model.predict(x)
        model.synchronize()

    def train_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    return forward if kind == "forward" else train_step


def _seconds(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def extra_info(setup: Configured, model: Model, case: MicroCase, kind: str, first_call_s: float) -> dict[str, Any]:
    """Everything a throughput record needs beyond pytest-benchmark's own stats."""
    spec, s = case.spec(), case.shape
    count = forward_flops if kind == "forward" else train_step_flops
    info = model.runtime_info()
    return {
        "rnnbench": FORMAT, "backend": case.backend, "cell": case.cell, "kind": kind, "device": case.device,
        "dtype": case.dtype, "shape": s.label, "hidden_size": s.hidden_size, "batch_size": s.batch_size,
        "seq_len": s.seq_len, "num_layers": spec.num_layers, "spec": dataclasses.asdict(spec),
        "flops": count(spec, s.batch_size, s.seq_len), "first_call_s": first_call_s,
        "threads": setup.threads, "parity": setup.applied, "kernel_path": info.kernel_path,
        "settings": info.settings, "versions": setup.backend.versions(), "machine": _machine(),
    }


@functools.cache
def _machine() -> str:
    from rnnbench.manager.machine import machine_id

    return machine_id()
