"""The conformance check that opens every run: each backend and device of the matrix, before any case.

A run checks each implementation its cases run (a case without a chosen one runs
its backend's default for its network: ``runner.conformance_targets``) at the
cases of ``rnnbench check`` that those networks need (their cell, head and
depth), so the default matrix checks 9 of the 18 shapes; ``rnnbench check``
checks all of them.

A throughput figure from a backend that computes another function is not
comparable, so a run checks every (backend, device) it measures against the
NumPy reference (the cases and tolerances of ``rnnbench check``, in the
run's dtype) and every record carries the result; reports show it. A
failing backend is still measured: the result travels with its numbers.

Each check runs in a fresh process (``python -m rnnbench.manager.precheck``, started
by the one launcher, ``rnnbench.manager.process``) under
the run's per-case timeout and memory limit, so a backend that crashes,
hangs or leaks in the check is recorded as unchecked with the reason, like
a failed case. Results are saved in ``conformance.json`` as they come, and
``--resume`` reuses them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnnbench.conformance import Shape
from rnnbench.errors import UsageError
from rnnbench.host import usable_cpus
from rnnbench.manager.process import (
    Job,
    ProcessOutcome,
    python_module,
    read_document,
    run_concurrently,
    scratch_dir,
)
from rnnbench.results.schema import ResultsError
from rnnbench.results.store import read_json_file, write_json_file

CHECK_FILE = "conformance.json"
DEFAULT = "default"  # the implementation argument that means the backend's default


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """What the check of one backend on one device found, as every record of that pair carries it."""

    ok: bool | None  # None: the check itself did not finish (see error)
    dtype: str
    device: str
    comparisons: int  # quantities x cases compared
    failures: int  # of those, outside tolerance
    worst_rel: float | None  # the largest relative error of any comparison
    worst: str | None  # which case and quantity it was
    error: str | None = None

    @property
    def label(self) -> str:
        if self.ok is None:
            return f"not checked: {self.error}"
        worst = "" if self.worst_rel is None else f" (worst relative error {self.worst_rel:.2g}, {self.worst})"
        if self.ok is False and self.error is not None:
            return f"FAIL: {self.error}"
        return ("pass" if self.ok else f"FAIL: {self.failures} of {self.comparisons} outside tolerance") + worst

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def unchecked(cls, dtype: str, device: str, error: str) -> CheckResult:
        """The result of a check that did not finish, or compared nothing: why, and no figures."""
        return cls(ok=None, dtype=dtype, device=device, comparisons=0, failures=0, worst_rel=None, worst=None,
                   error=error)


def key(backend: str, device: str, implementation: str | None = None) -> str:
    """The result's key: backend/device, and /implementation when one was chosen (None: the default)."""
    return f"{backend}/{device}" + (f"/{implementation}" if implementation is not None else "")


def result_from_reports(reports: list[dict[str, Any]], dtype: str, device: str) -> CheckResult:
    """The result of ``rnnbench check --json`` output (one report per backend; here one)."""
    comparisons = [c for report in reports for c in report.get("comparisons", [])]
    errors = [report["error"] for report in reports if report.get("error")]  # the backend raised mid-check
    if errors and not comparisons:
        return CheckResult(ok=False, dtype=dtype, device=device, comparisons=0, failures=1, worst_rel=None,
                           worst=None, error=errors[0])
    if not comparisons:
        skipped = "; ".join(s for report in reports for s in report.get("skipped", []))
        return CheckResult.unchecked(dtype, device, skipped or "no case was compared")
    worst = max(comparisons, key=lambda c: c["max_rel"] if math.isfinite(c["max_rel"]) else math.inf)
    failures = sum(not c["ok"] for c in comparisons)
    finite = math.isfinite(worst["max_rel"])  # records are strict JSON: no NaN or infinity in them
    return CheckResult(ok=failures == 0 and not errors, dtype=dtype, device=device, comparisons=len(comparisons),
                       failures=failures, worst_rel=worst["max_rel"] if finite else None,
                       worst=f"{worst['case']} {worst['quantity']}" + ("" if finite else " (not finite)"),
                       error=errors[0] if errors else None)


Target = tuple[str, str, str | None]  # backend, device, implementation (None: the default)


def _job(scratch: Path, target: Target, dtype: str, threads: int, timeout_s: float,
         memory_limit_mb: int | None, shapes: Collection[Shape] | None = None) -> Job:
    backend, device, implementation = target
    folder = scratch / key(*target).replace(":", "-").replace("/", "-")
    folder.mkdir(exist_ok=True)
    command = python_module("rnnbench.manager.precheck", backend, device, dtype, memory_limit_mb or 0,
                            implementation or DEFAULT, _shapes_arg(shapes), folder / "reports.json")
    return Job(command, timeout_s, threads, folder / "output.log")


def _shapes_arg(shapes: Collection[Shape] | None) -> str:
    """"lstm-lm-2,gru-classify-1", or "all" for every case of the check."""
    return "all" if shapes is None else ",".join(f"{c}-{h}-{n}" for c, h, n in sorted(shapes))


def _parse_shapes(text: str) -> set[Shape] | None:
    if text == "all":
        return None
    return {(c, h, int(n)) for c, h, n in (item.split("-") for item in text.split(","))}


def _out(job: Job) -> Path:
    return Path(job.command[-1])


def _result(ended: ProcessOutcome, document: dict[str, Any] | None, dtype: str, device: str,
             timeout_s: float) -> CheckResult:
    if ended.timed_out:
        return CheckResult.unchecked(dtype, device, f"the check did not finish within {timeout_s:g} s")
    try:
        return result_from_reports(document["reports"], dtype, device)  # type: ignore[index]
    except (TypeError, KeyError):
        return CheckResult.unchecked(dtype, device, f"the check {ended.how_it_ended()}: {ended.last_line()}")


def check_pairs(run_dir: Path, targets: Mapping[Target, Collection[Shape] | None], dtype: str, threads: int,
                timeout_s: float, memory_limit_mb: int | None,
                announce: Callable[[str, CheckResult], None]) -> dict[str, CheckResult]:
    """Verdicts of every (backend, device, implementation), reusing those ``run_dir`` holds; saved after each.

    Each target is checked at its (cell, head, layers) cases: the ones the run measures with it (None: all 18).
    """
    path = Path(run_dir) / CHECK_FILE
    results = read_check_results(run_dir)
    todo = [t for t in targets if key(*t) not in results]
    # A check compares numbers, it times nothing: the checks share the cores, one per core at once
    # (on 2 cores: 118 s instead of 148 s for the four backends, measured 2026-12-01), each with its
    # share of the threads.
    parallel = max(1, min(len(todo), threads, len(usable_cpus())))
    each = max(1, threads // parallel)
    with scratch_dir() as scratch:
        jobs = {_job(Path(scratch), t, dtype, each, timeout_s, memory_limit_mb, targets[t]): t for t in todo}
        for job, ended in run_concurrently(list(jobs), parallel):
            target = jobs[job]
            result = _result(ended, read_document(_out(job)), dtype, target[1], timeout_s)
            results[key(*target)] = result
            announce(key(*target), result)
            write_json_file(path, {k: v.to_dict() for k, v in results.items()})
    return results


def read_check_results(run_dir: Path) -> dict[str, CheckResult]:
    """The results a run folder holds; UsageError, in one line, when its file cannot be read."""
    path = Path(run_dir) / CHECK_FILE
    if not path.is_file():
        return {}
    try:
        return {k: CheckResult(**v) for k, v in read_json_file(path).items()}
    except (ResultsError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path} cannot be read ({exc}). Accepted: the file the run wrote; delete it and the "
                         f"resumed run checks conformance again") from None


def main(argv: list[str]) -> int:
    """``python -m rnnbench.manager.precheck BACKEND DEVICE DTYPE MEMORY_LIMIT_MB IMPLEMENTATION SHAPES OUT_JSON``.

    The check's reports; IMPLEMENTATION "default" checks the backend's default for each case;
    SHAPES is "all" or the (cell-head-layers) cases to check, comma-separated.
    """
    from rnnbench.conformance import run_check
    from rnnbench.document import write_document
    from rnnbench.host import limit_memory
    from rnnbench.plugins.registry import Registry

    backend, device, dtype, limit, implementation, shapes, out = argv
    limit_memory(int(limit) or None)
    report = run_check(Registry(), backend, (dtype,), device, None if implementation == DEFAULT else implementation,
                       _parse_shapes(shapes))
    write_document(out, {"reports": [report.to_dict()]})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
