"""Run benchmarks, save them, and compare with the previous saved run on this machine when there is one.

::

    python -m rnnbench.testing.bench --storage .bench --fail median:300% tests/benchmarks/test_micro.py -m "not slow"

Every option it does not know goes to pytest. It runs pytest with
``--benchmark-only``, saves the run with its per-round samples under
``--storage`` (pytest-benchmark's file storage: one folder per machine kind,
numbered files) and, when that folder already holds a run, compares with the
latest one and fails when a benchmark got slower than ``--fail`` allows
(pytest-benchmark's ``--benchmark-compare-fail`` expression). The first run
only saves: pytest-benchmark itself refuses ``--benchmark-compare-fail``
when there is nothing to compare with. pytest runs in a subprocess; the exit
status is its.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

DEFAULT_FAIL = "median:300%"  # generous: a shared CI machine's noise must not fail the build


def previous_runs(storage: Path) -> list[Path]:
    """Runs saved for this machine kind, oldest first, as pytest-benchmark names and finds them."""
    from pytest_benchmark.utils import get_machine_id

    return sorted((storage / get_machine_id()).glob("[0-9][0-9][0-9][0-9]_*.json"))


def pytest_args(storage: Path, fail: str, extra: list[str]) -> tuple[list[str], str]:
    """The pytest command line, and one line saying what it will compare with."""
    args = ["--benchmark-only", f"--benchmark-storage=file://{storage}", "--benchmark-autosave",
            "--benchmark-save-data"]
    previous = previous_runs(storage)
    if not previous:
        return args + extra, f"rnnbench bench: no saved run in {storage}; this run is saved, not compared"
    args += ["--benchmark-compare", f"--benchmark-compare-fail={fail}"]
    return args + extra, f"rnnbench bench: comparing with {previous[-1]} (fail on {fail})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnbench.testing.bench", allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--storage", type=Path, default=Path(".bench"),
                        help="folder of saved runs (default: .bench)")
    parser.add_argument("--fail", default=DEFAULT_FAIL,
                        help=f"regression that fails the run, as --benchmark-compare-fail takes it "
                             f"(default: {DEFAULT_FAIL})")
    options, extra = parser.parse_known_args(argv)
    args, note = pytest_args(options.storage.resolve(), options.fail, extra)
    print(note, flush=True)
    # A fresh interpreter: this one imported rnnbench.testing, which pytest could then not assertion-rewrite.
    return subprocess.call([sys.executable, "-m", "pytest", *args])


if __name__ == "__main__":
    sys.exit(main())
