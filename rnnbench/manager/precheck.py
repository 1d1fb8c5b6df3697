"""The conformance check that opens every run: each backend and device of the matrix, before any case.

A throughput figure from a backend that computes another function is not
comparable, so a run checks every (backend, device) it measures against the
NumPy reference (the cases and tolerances of ``rnnbench check``, in the
run's dtype) and every record carries the verdict; reports show it. A
failing backend is still measured: the verdict travels with its numbers.

Each check runs in a fresh process (``python -m rnnbench.manager.precheck``) under
the run's per-case timeout and memory limit, so a backend that crashes,
hangs or leaks in the check is recorded as unchecked with the reason, like
a failed case. Verdicts are saved in ``conformance.json`` as they come, and
``--resume`` reuses them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnnbench.manager.process import TAIL_CHARS, WORKER_ENV
from rnnbench.worker.parity import thread_environment

CHECK_FILE = "conformance.json"


@dataclass(frozen=True)
class Verdict:
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
        return ("pass" if self.ok else f"FAIL: {self.failures} of {self.comparisons} outside tolerance") + worst

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def key(backend: str, device: str) -> str:
    return f"{backend}/{device}"


def verdict_from_reports(reports: list[dict[str, Any]], dtype: str, device: str) -> Verdict:
    """The verdict of ``rnnbench check --json`` output (one report per backend; here one)."""
    comparisons = [c for report in reports for c in report.get("comparisons", [])]
    if not comparisons:
        skipped = "; ".join(s for report in reports for s in report.get("skipped", []))
        return Verdict(None, dtype, device, 0, 0, None, None, skipped or "no case was compared")
    worst = max(comparisons, key=lambda c: c["max_rel"] if math.isfinite(c["max_rel"]) else math.inf)
    failures = sum(not c["ok"] for c in comparisons)
    finite = math.isfinite(worst["max_rel"])  # records are strict JSON: no NaN or infinity in them
    return Verdict(failures == 0, dtype, device, len(comparisons), failures, worst["max_rel"] if finite else None,
                   f"{worst['case']} {worst['quantity']}" + ("" if finite else " (not finite)"))


def check_in_subprocess(backend: str, device: str, dtype: str, threads: int, timeout_s: float,
                        memory_limit_mb: int | None) -> Verdict:
    """Run the check of one pair in a fresh process; its crash or timeout becomes the verdict's error."""
    command = [sys.executable, "-m", "rnnbench.manager.precheck", backend, device, dtype, str(memory_limit_mb or 0)]
    env = os.environ | WORKER_ENV | thread_environment(threads)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return Verdict(None, dtype, device, 0, 0, None, None, f"the check did not finish within {timeout_s:g} s")
    try:
        return verdict_from_reports(json.loads(done.stdout), dtype, device)
    except (json.JSONDecodeError, TypeError, KeyError):
        tail = (done.stderr or done.stdout).strip()[-TAIL_CHARS:].splitlines()
        how = (f"was killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0
               else f"exited with code {done.returncode}")
        return Verdict(None, dtype, device, 0, 0, None, None, f"the check {how}: {tail[-1] if tail else 'no output'}")


def check_pairs(run_dir: Path, pairs: Iterable[tuple[str, str]], dtype: str, threads: int, timeout_s: float,
                memory_limit_mb: int | None, announce: Callable[[str, Verdict], None]) -> dict[str, Verdict]:
    """Verdicts of every (backend, device) pair, reusing those ``run_dir`` already holds; saved after each."""
    path = Path(run_dir) / CHECK_FILE
    verdicts = read_verdicts(run_dir)
    for backend, device in pairs:
        if key(backend, device) in verdicts:
            continue
        verdict = check_in_subprocess(backend, device, dtype, threads, timeout_s, memory_limit_mb)
        verdicts[key(backend, device)] = verdict
        announce(key(backend, device), verdict)
        path.write_text(json.dumps({k: v.to_dict() for k, v in verdicts.items()}, indent=2, sort_keys=True) + "\n")
    return verdicts


def read_verdicts(run_dir: Path) -> dict[str, Verdict]:
    path = Path(run_dir) / CHECK_FILE
    if not path.is_file():
        return {}
    return {k: Verdict(**v) for k, v in json.loads(path.read_text()).items()}


def main(argv: list[str]) -> int:
    """``python -m rnnbench.manager.precheck BACKEND DEVICE DTYPE MEMORY_LIMIT_MB``: the check's reports as JSON."""
    from rnnbench.conformance import run_check
    from rnnbench.plugins.registry import Registry
    from rnnbench.worker.main import limit_memory

    backend, device, dtype, limit = argv
    limit_memory(int(limit) or None)
    report = run_check(Registry(), backend, (dtype,), device)
    print(json.dumps([report.to_dict()]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
