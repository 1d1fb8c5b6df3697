"""The environment section: one column per machine of every run, one row per recorded fact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The facts that decide a result come first; anything else recorded follows in name order.
FIRST = ("machine", "hostname", "cpu_model", "cpu_count", "usable_cpus", "threads", "memory_bytes", "gpus", "os",
         "python", "rnnbench_version", "git_commit", "matmul_peak_gflops.best")


@dataclass(frozen=True)
class EnvironmentTable:
    headers: tuple[str, ...]  # "run id / machine" per column
    rows: tuple[tuple[str, tuple[str, ...], bool], ...]  # (fact, value per column, values differ)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts as dotted keys; lists as comma-separated items; sizes in bytes as GiB."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}{key}.").items()}
    key = prefix.rstrip(".")
    if isinstance(value, list):
        return {key: "; ".join(_item(v) for v in value) or "none"}
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return {key: f"{value / 2**30:,.1f} GiB"}
    if isinstance(value, float):
        return {key: f"{value:.4g}"}
    return {key: str(value)}


def _item(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in flatten(value).items())
    return str(value)


def environment_table(environments: Sequence[tuple[str, str, dict[str, Any]]]) -> EnvironmentTable:
    """``environments``: (run id, machine, environment dict) per column."""
    flat = [flatten(env) for _, _, env in environments]
    keys = list(dict.fromkeys(k for env in flat for k in env))
    ordered = [k for k in FIRST if k in keys] + sorted(k for k in keys if k not in FIRST)
    rows = tuple((key, values, len(set(values)) > 1)
                 for key in ordered for values in [tuple(env.get(key, "-") for env in flat)])
    return EnvironmentTable(tuple(f"{run} / {machine}" for run, machine, _ in environments), rows)
