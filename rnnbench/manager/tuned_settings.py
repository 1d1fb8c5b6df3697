"""What `rnnbench tune` found, as `rnnbench run --tuned RUN_DIR` reads it: ``tuned.json`` and its settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnbench.case import Case
from rnnbench.errors import UsageError
from rnnbench.plugins.registry import Registry
from rnnbench.results.schema import ResultsError
from rnnbench.results.store import read_json_file

TUNED_FILE = "tuned.json"
FASTER = "faster"  # the outcome of report.compare that `run --tuned` acts on
# What a tuned configuration is for: the same backend, task, cell, device, dtype and shape. The shape a case
# runs at is its profile's (smoke B8 H16, quick B32 H64, ...) unless overridden, so the profile is matched
# with the overrides: a winner at the smoke shape says nothing of the quick one.
MATCH = ("backend", "task", "cell", "device", "dtype", "profile", "batch_size", "seq_len", "hidden_size",
         "num_layers")


@dataclass(frozen=True)
class Settings:
    """One candidate configuration of a backend for a case."""

    implementation: str | None  # None: the backend's default for the device and network
    flush_denormals: bool
    threads: int

    def apply(self, case: Case) -> Case:
        return dataclasses.replace(case, implementation=self.implementation, flush_denormals=self.flush_denormals,
                                   threads=self.threads)

    def label(self) -> str:
        """"loop, 1 thread, ftz": the implementation, the threads, and ftz when denormals are flushed to zero."""
        parts = [self.implementation or "default", f"{self.threads} thread" + ("s" if self.threads > 1 else "")]
        return ", ".join([*parts, "ftz"] if self.flush_denormals else parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_tuned(path: Path) -> list[dict[str, Any]]:
    """The winners a tune run found (its folder or its tuned.json); UsageError in one line if unreadable."""
    file = path / TUNED_FILE if path.is_dir() else path
    try:
        cases = read_json_file(file).get("cases")
    except ResultsError as exc:
        raise UsageError(f"--tuned {path}: {exc}") from None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and isinstance(c.get("best"), dict)
                                              for c in cases):
        raise UsageError(f"--tuned {file} holds no tuned cases. Accepted: the tuned.json of an `rnnbench tune` run")
    for entry in cases:
        settings_of(entry, file)
    return cases


def settings_of(entry: dict[str, Any], file: Path) -> Settings:
    """The winning settings of one tuned case, each value checked as the options are; UsageError naming the
    file and the case otherwise (tuned.json is a file a person can edit)."""
    best = entry["best"]
    where = f"--tuned {file}: case {' '.join(str(entry.get(k)) for k in ('backend', 'task', 'cell', 'device'))}"
    implementation, flush, threads = best.get("implementation"), best.get("flush_denormals"), best.get("threads")
    if implementation is not None and not (isinstance(implementation, str) and implementation):
        raise UsageError(f"{where}: implementation={implementation!r} is not valid. Accepted: null (the default) "
                         "or an implementation's name")
    if not isinstance(flush, bool):
        raise UsageError(f"{where}: flush_denormals={flush!r} is not valid. Accepted: true or false")
    if not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
        raise UsageError(f"{where}: threads={threads!r} is not valid. Accepted: an integer >= 1")
    return Settings(implementation, flush, threads)


def apply_tuned(cases: list[Case], tuned: list[dict[str, Any]], file: Path, registry: Registry,
                max_threads: int | None) -> list[Case]:
    """Each case with the settings tune found for its backend, task, cell, device, dtype, profile and shape,
    where the side by side found them significantly faster than the default; others unchanged (a winner of
    the search that was slower, or not told apart, is not a tuned configuration). UsageError when the tune
    run tuned none of these cases, or a winner cannot run here (an implementation the backend does not have
    on the device, more threads than ``max_threads``)."""
    keys = {tuple(getattr(case, k) for k in MATCH) for case in cases}
    if tuned and not keys & {tuple(t.get(k) for k in MATCH) for t in tuned}:
        them = sorted({f"{t.get('task')} {t.get('cell')} profile {t.get('profile')}" for t in tuned})
        raise UsageError(f"--tuned {file} tuned none of this run's cases (it tuned: {'; '.join(them[:4])}). "
                         "Accepted: the tune run of the same backends, tasks, cells, device, dtype, profile and "
                         "shapes")
    best = {tuple(t.get(k) for k in MATCH): t for t in tuned if t.get("outcome") == FASTER}
    applied = []
    for case in cases:
        found = best.get(tuple(getattr(case, k) for k in MATCH))
        if found is not None:
            settings = settings_of(found, file)
            _check_runs_here(settings, case, file, registry, max_threads)
            case = settings.apply(case)
        applied.append(case)
    return applied


def _check_runs_here(settings: Settings, case: Case, file: Path, registry: Registry, max_threads: int | None) -> None:
    where = f"--tuned {file}: case {case.backend} {case.task} {case.cell} {case.device}"
    offered = [i.name for i in registry.backend(case.backend).implementations() if i.runs_on(case.device)]
    if settings.implementation is not None and settings.implementation not in offered:
        raise UsageError(f"{where}: implementation {settings.implementation!r} does not run there. Accepted: "
                         f"{', '.join(offered) or 'the default'}")
    if max_threads is not None and settings.threads > max_threads:
        raise UsageError(f"{where}: threads={settings.threads} is more than this machine lets rnnbench use. "
                         f"Accepted: 1 to {max_threads}")
