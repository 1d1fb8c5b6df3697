"""What `rnnbench tune` found, as `rnnbench run --tuned RUN_DIR` reads it: ``tuned.json`` and its settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnbench.errors import UsageError
from rnnbench.manager.case import Case
from rnnbench.results.schema import ResultsError
from rnnbench.results.store import read_json_file

TUNED_FILE = "tuned.json"
FASTER = "faster"  # the verdict of report.compare that `run --tuned` acts on
# What a tuned configuration is for: the same backend, task, cell, device, dtype and shape.
MATCH = ("backend", "task", "cell", "device", "dtype", "batch_size", "seq_len", "hidden_size", "num_layers")


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
        raise UsageError(f"--tuned {path}: {exc}. Accepted: the folder of an `rnnbench tune` run") from None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and isinstance(c.get("best"), dict)
                                              for c in cases):
        raise UsageError(f"--tuned {file} holds no tuned cases. Accepted: the tuned.json of an `rnnbench tune` run")
    return cases



def apply_tuned(cases: list[Case], tuned: list[dict[str, Any]]) -> list[Case]:
    """Each case with the settings tune found for its backend, task, cell, device, dtype and shape, where
    the side by side found them significantly faster than the default; others unchanged (a winner of the
    search that was slower, or not told apart, is not a tuned configuration)."""
    best = {tuple(t.get(k) for k in MATCH): t["best"] for t in tuned if t.get("verdict") == FASTER}
    applied = []
    for case in cases:
        found = best.get(tuple(getattr(case, k) for k in MATCH))
        if found is not None:
            case = Settings(found.get("implementation"), bool(found.get("flush_denormals")),
                            int(found.get("threads", case.threads))).apply(case)
        applied.append(case)
    return applied
