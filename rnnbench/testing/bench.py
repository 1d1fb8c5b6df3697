"""Run benchmarks, compare with the last passing run on this machine, and save the run only when it passes.

::

    python -m rnnbench.testing.bench --storage .bench --fail median:300% tests/benchmarks/test_micro.py -m "not slow"

Every option it does not know goes to pytest. It runs pytest with
``--benchmark-only`` and, when ``--storage`` already holds a run for this
machine kind (pytest-benchmark's file storage: one folder per machine kind,
numbered files), compares with the latest one and fails when a benchmark got
slower than ``--fail`` allows (pytest-benchmark's
``--benchmark-compare-fail`` expression). The first run only saves:
pytest-benchmark itself refuses ``--benchmark-compare-fail`` when there is
nothing to compare with.

The run's JSON, per-round samples included, goes to a temporary file and is
copied into the storage, named as ``--benchmark-autosave`` names it, only
when pytest exits 0. A failed run (a regression, a failing test) is not
saved, so the next run still compares with the last good one: a slowdown
cannot become the baseline by being run twice. pytest runs in a subprocess;
the exit status is its.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_FAIL = "median:300%"  # generous: a shared CI machine's noise must not fail the build
SAVED = "[0-9][0-9][0-9][0-9]_*.json"  # pytest-benchmark's numbered file names


def machine_folder(storage: Path) -> Path:
    """The folder of this machine kind's runs, as pytest-benchmark names it."""
    from pytest_benchmark.utils import get_machine_id

    return storage / get_machine_id()


def previous_runs(storage: Path) -> list[Path]:
    """Runs saved for this machine kind, oldest first, as pytest-benchmark numbers and finds them."""
    return sorted(machine_folder(storage).glob(SAVED))


def pytest_args(storage: Path, fail: str, json_out: Path, extra: list[str]) -> tuple[list[str], str]:
    """The pytest command line, and one line saying what it will compare with."""
    args = ["--benchmark-only", f"--benchmark-storage=file://{storage}", f"--benchmark-json={json_out}"]
    previous = previous_runs(storage)
    if not previous:
        return args + extra, f"rnnbench bench: no saved run in {storage}; this run is saved if it passes, not compared"
    args += ["--benchmark-compare", f"--benchmark-compare-fail={fail}"]
    return args + extra, f"rnnbench bench: comparing with {previous[-1]} (fail on {fail})"


def save_run(json_out: Path, storage: Path, tag: str) -> Path:
    """Copy the run's JSON into the storage as the next numbered file, where --benchmark-compare finds it."""
    folder = machine_folder(storage)
    folder.mkdir(parents=True, exist_ok=True)
    previous = previous_runs(storage)
    number = int(previous[-1].name.split("_", 1)[0]) + 1 if previous else 1
    saved = folder / f"{number:04d}_{tag}.json"
    shutil.copyfile(json_out, saved)
    return saved


def autosave_tag() -> str:
    """``<commit>_<UTC time>[_uncommitted-changes]``, the name --benchmark-autosave gives a run."""
    from pytest_benchmark.utils import get_tag

    return str(get_tag())


def run(storage: Path, fail: str, extra: list[str]) -> int:
    tag = autosave_tag()  # at the start, as pytest-benchmark stamps an autosaved run
    with tempfile.TemporaryDirectory(prefix="rnnbench-bench-") as tmp:
        json_out = Path(tmp) / "run.json"
        args, note = pytest_args(storage, fail, json_out, extra)
        print(note, flush=True)
        # A fresh interpreter: this one imported rnnbench.testing, which pytest could then not assertion-rewrite.
        status = subprocess.call([sys.executable, "-m", "pytest", *args])
        if status != 0:
            print(f"rnnbench bench: pytest exited {status}; this run is not saved", flush=True)
        elif not json_out.is_file():  # pytest-benchmark writes nothing when no benchmark ran
            print("rnnbench bench: no benchmark ran; nothing is saved", flush=True)
        else:
            print(f"rnnbench bench: saved {save_run(json_out, storage, tag)}", flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnbench.testing.bench", allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--storage", type=Path, default=Path(".bench"),
                        help="folder of saved runs (default: .bench)")
    parser.add_argument("--fail", default=DEFAULT_FAIL,
                        help=f"regression that fails the run, as --benchmark-compare-fail takes it "
                             f"(default: {DEFAULT_FAIL})")
    options, extra = parser.parse_known_args(argv)
    return run(options.storage.resolve(), options.fail, extra)


if __name__ == "__main__":
    sys.exit(main())
