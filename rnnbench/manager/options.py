"""The case matrix of a run, from CLI options and TOML configuration.

``RunOptions`` holds every choice of a run; ``load_config`` reads the same
keys from ``--config FILE`` or the ``[tool.rnnbench]`` table of a
pyproject.toml; ``expand`` turns options into the ordered list of cases,
interleaved so consecutive cases belong to different backends.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnbench.errors import UsageError
from rnnbench.manager.case import MODES, Case
from rnnbench.plugins.registry import Registry
from rnnbench.spec import CELLS
from rnnbench.worker.parity import usable_cpus

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ProfileSettings:
    """What a run profile fixes besides the task profile of the same name."""

    warmup: int  # throughput calls before timing
    steps: int  # timed throughput calls per case
    memory_steps: int  # training steps sampled in the memory pass
    accuracy_seconds: float | None  # training time cap of the accuracy pass; None: the task's budget
    eval_batches: int | None  # evaluation batches cap of the accuracy pass; None: the task's


# smoke: CI seconds; quick: the default, the whole matrix in minutes on 2 cores; full: paper quality.
PROFILES: dict[str, ProfileSettings] = {
    "smoke": ProfileSettings(warmup=1, steps=3, memory_steps=2, accuracy_seconds=None, eval_batches=None),
    "quick": ProfileSettings(warmup=2, steps=10, memory_steps=3, accuracy_seconds=4.0, eval_batches=4),
    "full": ProfileSettings(warmup=5, steps=50, memory_steps=10, accuracy_seconds=None, eval_batches=None),
}


@dataclass(frozen=True)
class RunOptions:
    """Every choice of a run; lists are sweeps, 'all' expands to what exists."""

    backends: tuple[str, ...] = ("all",)
    tasks: tuple[str, ...] = ("char_rnn", "imdb", "forecasting")  # the three workloads; "all" adds airline
    cells: tuple[str, ...] = ("all",)
    devices: tuple[str, ...] = ("cpu",)  # cpu, gpu (every backend's first GPU) or all
    modes: tuple[str, ...] = MODES
    profile: str = "quick"
    synthetic: bool = False
    seed: int = 0
    dtype: str = "float32"
    batch_sizes: tuple[int | None, ...] = (None,)
    seq_lens: tuple[int | None, ...] = (None,)
    hidden_sizes: tuple[int | None, ...] = (None,)
    num_layers: tuple[int | None, ...] = (None,)
    threads: int = field(default_factory=lambda: len(usable_cpus()))
    flush_denormals: bool = False
    rounds: int = 1  # the whole matrix this many times, interleaved
    timeout_s: float = 600.0  # per case
    memory_limit_mb: int | None = None
    steps: int | None = None  # override the profile's timed steps
    warmup: int | None = None  # override the profile's warm-up calls
    check: bool = True  # the conformance check of each backend and device before the cases (rnnbench.manager.precheck)
    executor: str = "local"  # where cases run: "local" (this machine) or "ray" (a Ray cluster); kept for --resume
    ray_address: str | None = None  # the Ray cluster; None: RAY_ADDRESS, a local `ray start`, or a new one
    ray_share_nodes: bool = False  # Ray: several cases at once per node (a faster sweep, timings not clean)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise UsageError(f"profile={self.profile!r} is not valid. Accepted: {', '.join(PROFILES)}")
        for mode in self.modes:
            if mode not in MODES:
                raise UsageError(f"mode={mode!r} is not valid. Accepted: {', '.join(MODES)}")
        if self.executor not in ("local", "ray"):
            raise UsageError(f"executor={self.executor!r} is not valid. Accepted: local, ray")
        if self.ray_address is not None and self.executor != "ray":
            raise UsageError(f"ray_address={self.ray_address!r} needs executor 'ray'. Accepted: --executor ray")
        if self.ray_share_nodes and self.executor != "ray":
            raise UsageError("ray_share_nodes=True needs executor 'ray'. Accepted: --executor ray")
        if self.rounds < 1 or self.timeout_s <= 0:
            raise UsageError(f"rounds={self.rounds}, timeout={self.timeout_s} are not valid. Accepted: >= 1, > 0")

    def with_config(self, config: dict[str, Any]) -> RunOptions:
        """These options with the keys of a TOML table applied (validated)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        updates: dict[str, Any] = {}
        for key, value in config.items():
            name = key.replace("-", "_")
            if name not in known:
                raise UsageError(f"Unknown configuration key {key!r}. Accepted: {', '.join(sorted(known))}")
            updates[name] = tuple(value) if isinstance(value, list) else value
        return dataclasses.replace(self, **updates)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: Path | None) -> dict[str, Any]:
    """``[tool.rnnbench]`` of a pyproject.toml, or the top level (or that table) of another TOML file."""
    if path is None:
        default = Path("pyproject.toml")
        if not default.is_file():
            return {}
        return tomllib.loads(default.read_text()).get("tool", {}).get("rnnbench", {})
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist. Accepted: a TOML file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc
    return data.get("tool", {}).get("rnnbench", data)


def _names(chosen: tuple[str, ...], existing: list[str], kind: str) -> list[str]:
    if "all" in chosen:
        return existing
    for name in chosen:
        if name not in existing:
            raise UsageError(f"Unknown {kind} {name!r}. Available: {', '.join(existing)}")
    return list(dict.fromkeys(chosen))


def _devices(backend_devices: list[str], chosen: tuple[str, ...]) -> list[str]:
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


def expand(options: RunOptions, registry: Registry, backends: list[str],
           devices: dict[str, list[str]]) -> list[Case]:
    """The ordered cases: rounds, then tasks, cells, shapes and modes, with backends innermost."""
    tasks = _names(options.tasks, registry.task_names(), "task")
    cells = _names(options.cells, list(CELLS), "cell")
    profile = PROFILES[options.profile]
    shapes = list(itertools.product(options.batch_sizes, options.seq_lens, options.hidden_sizes,
                                    options.num_layers))
    cases = []
    for repeat, task, cell, shape, mode in itertools.product(range(options.rounds), tasks, cells, shapes,
                                                              options.modes):
        for backend in backends:
            for device in _devices(devices[backend], options.devices):
                cases.append(_case(options, profile, backend, task, cell, device, mode, shape, repeat))
    return cases


def _case(options: RunOptions, profile: ProfileSettings, backend: str, task: str, cell: str, device: str,
          mode: str, shape: tuple[int | None, ...], repeat: int) -> Case:
    batch_size, seq_len, hidden_size, num_layers = shape
    return Case(
        backend=backend, task=task, cell=cell, device=device, mode=mode,  # type: ignore[arg-type]
        profile=options.profile, synthetic=options.synthetic, seed=options.seed, dtype=options.dtype,
        batch_size=batch_size, seq_len=seq_len, hidden_size=hidden_size, num_layers=num_layers,
        threads=options.threads, flush_denormals=options.flush_denormals,
        warmup=options.warmup or profile.warmup, steps=options.steps or profile.steps,
        memory_steps=profile.memory_steps, memory_limit_mb=options.memory_limit_mb,
        accuracy_seconds=profile.accuracy_seconds, eval_batches=profile.eval_batches, repeat=repeat)
