"""The case matrix of a run, from CLI options and TOML configuration.

``RunOptions`` holds every choice of a run; ``load_config`` reads the same
keys from ``--config FILE`` or the ``[tool.rnnbench]`` table of a
pyproject.toml; ``expand`` turns options into the list of cases (the schedule
orders them: rnnbench.manager.schedule).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnbench.backend import canonical_device
from rnnbench.case import DEFAULT_MODES, MODES, TIMED_MODES, Case
from rnnbench.errors import UsageError
from rnnbench.host import usable_cpus
from rnnbench.kit import parse_device
from rnnbench.manager.tuned_settings import apply_tuned, load_tuned
from rnnbench.plugins.registry import Registry
from rnnbench.spec import CELLS, GPU_ONLY_PRECISIONS, PRECISIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ProfileSettings:
    """What a run profile fixes besides the task profile of the same name."""

    warmup: int  # throughput calls before timing (the first timed apart; the rest calibrate the blocks)
    steps: int  # timed samples per case and process
    rounds: int  # processes per throughput case, one a round (the statistical unit: docs/measurement.md)
    memory_steps: int  # training steps sampled in the memory pass
    accuracy_seconds: float | None  # training time cap of the accuracy pass; None: the task's budget
    eval_batches: int | None  # evaluation batches cap of the accuracy pass; None: the task's
    latency_calls: int = 200  # latency: calls timed one by one per process (each under a time budget)
    latency_budget_s: float = 3.0  # latency: seconds of timed calls per measurement, past the 20 every one takes


# smoke: CI seconds; quick: the default, the whole matrix in minutes on 2 cores; full: paper quality.
# Accuracy in smoke and quick trains the task's fixed step count on every backend (the equal-step
# comparison); no time cap, which would give faster backends more steps.
# Rounds: smoke's one process a case is never tested ("one process: not tested"); quick's five give the
# test its fewest useful values within the default run's 10 minutes; full's ten resolve smaller differences.
PROFILES: dict[str, ProfileSettings] = {
    "smoke": ProfileSettings(warmup=1, steps=3, rounds=1, memory_steps=2, accuracy_seconds=None, eval_batches=None,
                             latency_calls=30, latency_budget_s=0.25),
    "quick": ProfileSettings(warmup=2, steps=5, rounds=5, memory_steps=3, accuracy_seconds=None, eval_batches=4,
                             latency_budget_s=0.5),
    "full": ProfileSettings(warmup=5, steps=20, rounds=10, memory_steps=10, accuracy_seconds=None,
                            eval_batches=None, latency_calls=1000),
}


@dataclass(frozen=True)
class RunOptions:
    """Every choice of a run; lists are sweeps, 'all' expands to what exists."""

    backends: tuple[str, ...] = ("all",)
    tasks: tuple[str, ...] = ("char_rnn", "imdb", "forecasting")  # the three workloads; "all" adds airline
    cells: tuple[str, ...] = ("all",)
    devices: tuple[str, ...] = ("cpu",)  # cpu, gpu (every backend's first GPU), gpu:N or all; cuda:N is gpu:N
    modes: tuple[str, ...] = DEFAULT_MODES  # latency when asked for: --mode latency
    # Backend.implementations() names, "default" (each backend's default for the device and network) or
    # "all" (every implementation of each backend that runs on the device); a name only where it exists.
    implementations: tuple[str, ...] = ("default",)
    profile: str = "quick"
    synthetic: bool = False
    seeds: tuple[int, ...] = (0,)  # weights and batch order; several: a sweep (full: time to target over seeds)
    dtype: str = "float32"
    batch_sizes: tuple[int | None, ...] = (None,)
    seq_lens: tuple[int | None, ...] = (None,)
    hidden_sizes: tuple[int | None, ...] = (None,)
    num_layers: tuple[int | None, ...] = (None,)
    threads: int = field(default_factory=lambda: len(usable_cpus()))
    flush_denormals: bool = False
    # accuracy: stop training at the first whole evaluation that meets the task's target (MLPerf's
    # time-to-train), instead of training the whole budget; time to target is the same either way
    stop_at_target: bool = False
    # Processes per throughput case, one a round, each round in a fresh random order (rnnbench.manager.schedule);
    # None: the profile's. Memory and accuracy run once.
    rounds: int | None = None
    order_seed: int | None = None  # the seed of that random order; None: drawn when the run starts, kept in run.json
    timeout_s: float | None = None  # per case; None: case_timeout_s (600 s, longer for a long training budget)
    memory_limit_mb: int | None = None
    steps: int | None = None  # override the profile's timed steps
    warmup: int | None = None  # override the profile's warm-up calls
    check: bool = True  # the conformance check of each backend and device before the cases (rnnbench.manager.precheck)
    executor: str = "local"  # where cases run: "local" (this machine) or "ray" (a Ray cluster); kept for --resume
    ray_address: str | None = None  # the Ray cluster; None: RAY_ADDRESS, a local `ray start`, or a new one
    ray_share_nodes: bool = False  # Ray: several cases at once per node (a faster sweep, timings not clean)
    tuned: str | None = None  # a `rnnbench tune` run folder: its winning settings for the cases it tuned

    def __post_init__(self) -> None:
        """Every field checked once, whether it came from the command line or a TOML file."""
        for name in NAME_LISTS:  # "numpy,torch" and ("numpy", "torch") are the same list
            object.__setattr__(self, name, _names_list(name, getattr(self, name)))
        object.__setattr__(self, "devices", tuple(canonical_device(d) for d in self.devices))
        for name in SWEEPS:
            object.__setattr__(self, name, _sweep(name, getattr(self, name)))
        object.__setattr__(self, "seeds", _seeds(self.seeds))
        self._check_choices()
        self._check_numbers()
        if self.ray_address is not None and self.executor != "ray":
            raise UsageError(f"ray_address={self.ray_address!r} needs executor 'ray'. Accepted: --executor ray")
        if self.tuned is not None and not isinstance(self.tuned, str):
            raise UsageError(f"tuned={self.tuned!r} is not valid. Accepted: the folder of an `rnnbench tune` run")
        if self.tuned is not None:  # stored resolved: a resume from another folder finds the same tune run
            object.__setattr__(self, "tuned", os.path.abspath(self.tuned))
        if self.ray_share_nodes and self.executor != "ray":
            raise UsageError("ray_share_nodes=True needs executor 'ray'. Accepted: --executor ray")

    def _check_choices(self) -> None:
        for device in self.devices:
            if device not in ("all", "gpu"):
                try:
                    parse_device(device)
                except UsageError:
                    raise UsageError(f"device={device!r} is not valid. Accepted: cpu, gpu, gpu:N, all "
                                     f"(cuda:N is read as gpu:N)") from None
        _choice("profile", self.profile, tuple(PROFILES))
        _choice("dtype", self.dtype, DTYPES)
        if self.dtype in GPU_ONLY_PRECISIONS and set(self.devices) == {"cpu"}:
            raise UsageError(f"dtype={self.dtype!r} runs on GPUs only and the devices are: cpu. "
                             f"Accepted: --device gpu, gpu:N or all with {self.dtype}, or float32 on the CPU")
        _choice("executor", self.executor, ("local", "ray"))
        for mode in self.modes:
            _choice("mode", mode, MODES)
        for name in ("synthetic", "flush_denormals", "stop_at_target", "check", "ray_share_nodes"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name}={getattr(self, name)!r} is not valid. Accepted: true or false")

    def _check_numbers(self) -> None:
        if self.executor == "local":  # a Ray cluster's nodes may have more cores than this machine
            cpus = len(usable_cpus())
            _integer("threads", self.threads, 1, cpus, f"1 to {cpus}, the cores this machine lets rnnbench use")
        else:
            _integer("threads", self.threads, 1)
        if self.rounds is not None:
            _integer("rounds", self.rounds, 1, MAX_ROUNDS)
        if self.order_seed is not None:
            _integer("order_seed", self.order_seed, 0, 2**32 - 1)
        if self.timeout_s is not None:
            _positive_number("timeout_s", self.timeout_s)
        for name in ("steps", "warmup"):
            if getattr(self, name) is not None:
                _integer(name, getattr(self, name), 1)
        if self.memory_limit_mb is not None:
            _integer("memory_limit_mb", self.memory_limit_mb, 1, MAX_MEMORY_LIMIT_MB,
                     f"an integer from 1 to {MAX_MEMORY_LIMIT_MB} (the largest address-space limit setrlimit takes)")

    def with_config(self, config: dict[str, Any]) -> RunOptions:
        """These options with the keys of a TOML table applied (validated)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        updates: dict[str, Any] = {}
        for key, value in config.items():
            name = key.replace("-", "_")
            name = "seeds" if name == "seed" else name  # run.json of older runs; `seed = 1` in TOML
            if name not in known:
                raise UsageError(f"Unknown configuration key {key!r}. Accepted: {', '.join(sorted(known))}")
            updates[name] = tuple(value) if isinstance(value, list) else value
        return dataclasses.replace(self, **updates)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


MAX_ROUNDS = 1000  # a thousand processes per case is days of a default matrix; more is a typo
MAX_MEMORY_LIMIT_MB = (2**63 - 1) >> 20  # RLIMIT_AS in bytes is a signed 64-bit number for Python's setrlimit


def rounds_of(options: RunOptions) -> int:
    """The processes each throughput case runs in: the option, else the profile's."""
    return PROFILES[options.profile].rounds if options.rounds is None else options.rounds


DTYPES = tuple(PRECISIONS)  # float32, float64, mixed_bfloat16, mixed_float16, tf32
NAME_LISTS = ("backends", "tasks", "cells", "devices", "modes", "implementations")
SWEEPS = ("batch_sizes", "seq_lens", "hidden_sizes", "num_layers")


def _choice(name: str, value: object, accepted: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in accepted:
        raise UsageError(f"{name}={value!r} is not valid. Accepted: {', '.join(accepted)}")


def _integer(name: str, value: object, low: int, high: int | None = None, accepted: str | None = None) -> None:
    """An int (not a bool, not a float) in [low, high]."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        span = accepted or (f"an integer >= {low}" if high is None else f"an integer from {low} to {high}")
        raise UsageError(f"{name}={value!r} is not valid. Accepted: {span}")


def _positive_number(name: str, value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise UsageError(f"{name}={value!r} is not valid. Accepted: a finite number of seconds > 0")


def _names_list(name: str, value: object) -> tuple[str, ...]:
    """A tuple of names from a tuple, a list or one comma-separated string; no empty or repeated name."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise UsageError(f"{name}={value!r} is not valid. Accepted: a list of names, or one comma-separated string")
    names = [part.strip() for item in items for part in item.split(",")]
    if not names or "" in names:
        raise UsageError(f"{name}={value!r} is not valid. Accepted: names separated by commas, none empty")
    return tuple(dict.fromkeys(names))


def _seeds(value: object) -> tuple[int, ...]:
    """Seeds from one integer or a list of them, each once."""
    items = (value,) if isinstance(value, int) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise UsageError(f"seed={value!r} is not valid. Accepted: integers from 0 to {2**32 - 1}")
    for item in items:
        _integer("seed", item, 0, 2**32 - 1)
    if len(set(items)) != len(items):
        raise UsageError(f"seed={list(items)!r} repeats a value. Accepted: each seed once")
    return tuple(items)


DEFAULT_TIMEOUT_S = 600.0


def case_timeout_s(options: RunOptions, registry: Registry, cases: list[Case]) -> float:
    """The per-case timeout: the one given, else 600 s, or 1.5 x the longest training budget + 300 s.

    The full profile trains up to 1800 s (evaluations excluded, which add a
    third again on IMDB): its accuracy cases must not be killed at 600 s.
    """
    if options.timeout_s is not None:
        return options.timeout_s
    budgets = [registry.task(task).with_options(profile=profile).budget().max_seconds or 0.0
               for task, profile in {(c.task, c.profile) for c in cases if c.mode == "accuracy"}]
    return max(DEFAULT_TIMEOUT_S, 1.5 * max(budgets, default=0.0) + 300.0)


def _sweep(name: str, value: object) -> tuple[int | None, ...]:
    """A sweep of sizes: positive integers, each once; (None,) is the task's own size."""
    items = (value,) if isinstance(value, int) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise UsageError(f"{name}={value!r} is not valid. Accepted: a list of integers >= 1")
    if tuple(items) == (None,):
        return (None,)
    for item in items:
        _integer(name, item, 1, None, "a list of integers >= 1")
    if len(set(items)) != len(items):
        raise UsageError(f"{name}={list(items)!r} repeats a value. Accepted: each size once")
    return tuple(items)


def load_config(path: Path | None) -> dict[str, Any]:
    """``[tool.rnnbench]`` of a pyproject.toml, or the top level (or that table) of another TOML file.

    Without ``path``, ./pyproject.toml is read for its ``tool.rnnbench`` table, however it is written
    (``[tool.rnnbench]``, or ``rnnbench = {...}`` under ``[tool]``); a project's own pyproject.toml
    without one, even one that is not valid TOML, never breaks a run.
    """
    if path is None:
        default = Path("pyproject.toml")
        if not default.is_file():
            return {}
        try:
            data = _read_toml(default)
        except UsageError:
            if b"rnnbench" in default.read_bytes():  # it meant to configure rnnbench: say why it cannot
                raise
            return {}
        tool = data.get("tool")
        return _table(tool.get("rnnbench", {}), default) if isinstance(tool, dict) else {}
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist. Accepted: a TOML file")
    data = _read_toml(path)
    tool = data.get("tool")
    return _table(tool.get("rnnbench", data) if isinstance(tool, dict) else data, path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text. Accepted: a TOML file, which is UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML ({exc}). Accepted: a TOML file") from None
    except OSError as exc:
        raise UsageError(f"config file {path} cannot be read: {exc.strerror}. Accepted: a readable TOML file") from None


def _table(value: object, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"[tool.rnnbench] in {path} is {value!r:.40}. Accepted: a table of run options")
    return value


def _names(chosen: tuple[str, ...], existing: list[str], kind: str) -> list[str]:
    if "all" in chosen:
        return existing
    for name in chosen:
        if name not in existing:
            raise UsageError(f"Unknown {kind} {name!r}. Available: {', '.join(existing)}")
    return list(dict.fromkeys(chosen))


def _devices(backend_devices: list[str], chosen: tuple[str, ...], precision: str = "float32") -> list[str]:
    if precision in GPU_ONLY_PRECISIONS:  # "all" with tf32: the GPUs; the CPU has no TF32 matmul
        backend_devices = [d for d in backend_devices if d != "cpu"]
    gpus = [d for d in backend_devices if d != "cpu"]
    picked: list[str] = []
    for want in chosen:
        if want == "all":
            picked += backend_devices
        elif want == "gpu":
            picked += gpus[:1]
        elif want in backend_devices:
            picked.append(want)
    return list(dict.fromkeys(picked))


def check_devices(chosen: tuple[str, ...], devices: dict[str, list[str]], precision: str = "float32") -> None:
    """UsageError, listing every backend's devices, when a chosen device exists on no selected backend
    (for a GPU-only precision, when no selected backend has a GPU for "all")."""
    for want in chosen:
        found = any(_devices(names, (want,), precision) for names in devices.values())
        if not found and (want != "all" or precision in GPU_ONLY_PRECISIONS):
            listing = "; ".join(f"{backend}: {', '.join(names)}" for backend, names in devices.items())
            what = "a GPU" if want in ("gpu", "all") else f"device {want!r}"
            if precision in GPU_ONLY_PRECISIONS:
                what = f"{what} to run {precision} on (it runs on GPUs only)"
            raise UsageError(f"No selected backend has {what} here. Available: {listing}")


def expand(options: RunOptions, registry: Registry, backends: list[str],
           devices: dict[str, list[str]]) -> list[Case]:
    """The cases: rounds, then tasks, cells, shapes and modes, with backends innermost.

    The order here is only the matrix's; ``rnnbench.manager.schedule`` decides which cases share a
    process and runs each round in a fresh random order.
    """
    check_devices(options.devices, {backend: devices[backend] for backend in backends}, options.dtype)
    tasks = _names(options.tasks, registry.task_names(), "task")
    cells = _names(options.cells, list(CELLS), "cell")
    profile = PROFILES[options.profile]
    shapes = list(itertools.product(options.batch_sizes, options.seq_lens, options.hidden_sizes,
                                    options.num_layers))
    chosen = _implementations(options.implementations, registry, backends, devices)
    cases = []
    for repeat, task, cell, shape, seed, mode in itertools.product(range(rounds_of(options)), tasks, cells, shapes,
                                                                    options.seeds, options.modes):
        if repeat > 0 and mode not in TIMED_MODES:  # memory and accuracy are measured once
            continue
        for backend in backends:
            for device in _devices(devices[backend], options.devices, options.dtype):
                for implementation in chosen[backend, device]:
                    cases.append(dataclasses.replace(
                        _case(options, profile, backend, task, cell, device, mode, shape, repeat, seed),
                        implementation=implementation))
    if options.tuned is None:
        return cases
    max_threads = len(usable_cpus()) if options.executor == "local" else None
    return apply_tuned(cases, load_tuned(Path(options.tuned)), Path(options.tuned), registry, max_threads)


def _implementations(names: tuple[str, ...], registry: Registry, backends: list[str],
                     devices: dict[str, list[str]]) -> dict[tuple[str, str], list[str | None]]:
    """Per backend and device, the implementations to run (None: the default); UsageError for a name none has."""
    chosen: dict[tuple[str, str], list[str | None]] = {}
    known: set[str] = set()
    for backend in backends:
        offered = registry.backend(backend).implementations()
        known.update(i.name for i in offered)
        for device in devices[backend]:
            here = [i.name for i in offered if i.runs_on(device)]
            picked: list[str | None] = []
            for name in names:
                picked += [None] if name == "default" else here if name == "all" else [name] if name in here else []
            chosen[backend, device] = list(dict.fromkeys(picked))
    unknown = [n for n in names if n not in ("default", "all") and n not in known]
    if unknown:
        listing = "; ".join(f"{b}: {', '.join(i.name for i in registry.backend(b).implementations())}"
                            for b in backends)
        raise UsageError(f"Unknown implementation {unknown[0]!r}. Accepted: default, all, or one of {listing}")
    return chosen


def _case(options: RunOptions, profile: ProfileSettings, backend: str, task: str, cell: str, device: str,
          mode: str, shape: tuple[int | None, ...], repeat: int, seed: int) -> Case:
    batch_size, seq_len, hidden_size, num_layers = shape
    return Case(
        backend=backend, task=task, cell=cell, device=device, mode=mode,  # type: ignore[arg-type]
        profile=options.profile, synthetic=options.synthetic, seed=seed, dtype=options.dtype,
        batch_size=batch_size, seq_len=seq_len, hidden_size=hidden_size, num_layers=num_layers,
        threads=options.threads, flush_denormals=options.flush_denormals,
        warmup=profile.warmup if options.warmup is None else options.warmup,
        steps=profile.steps if options.steps is None else options.steps,
        memory_steps=profile.memory_steps, memory_limit_mb=options.memory_limit_mb,
        accuracy_seconds=profile.accuracy_seconds, eval_batches=profile.eval_batches,
        latency_calls=profile.latency_calls, latency_budget_s=profile.latency_budget_s,
        stop_at_target=options.stop_at_target and mode == "accuracy", repeat=repeat)
