"""`rnnbench noise`: an A/A run of a few cases, and what the run protocol resolves on this machine.

The cases run as ``rnnbench run`` runs them (fresh processes, rounds in a
random order), in twice the protocol's rounds; the first half of the rounds
is then compared with the second half, as ``rnnbench compare`` compares two
runs made one after the other (``rnnbench.report.noise``). The run folder
keeps every record and, beside its environment, ``noise.json``, which the
verdict of later runs on this machine quotes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console

from rnnbench.errors import UsageError
from rnnbench.manager.options import RunOptions, rounds_of
from rnnbench.manager.runner import RunReport, run
from rnnbench.plugins.registry import Registry
from rnnbench.report.noise import NOISE_FILE, noise_line, summarize_noise
from rnnbench.report.significance import MIN_PROCESSES
from rnnbench.results.frame import load_results
from rnnbench.results.store import write_json_file

# A few cases that every backend runs in seconds: the forecasting LSTM (B32 T96 H64).
DEFAULT_TASKS = ("forecasting",)
DEFAULT_CELLS = ("lstm",)


def noise_options(options: RunOptions) -> RunOptions:
    """The A/A run of ``options``: its one timed mode (throughput unless latency is asked for), twice the
    protocol's rounds (the two halves), no check."""
    if rounds_of(options) < MIN_PROCESSES:
        a_side = "one process a side" if rounds_of(options) == 1 else f"{rounds_of(options)} processes a side"
        raise UsageError(f"rounds={rounds_of(options)} gives {a_side}, too few for a test. Accepted: --rounds "
                         f"{MIN_PROCESSES} or more a side (the quick profile's 5)")
    return dataclasses.replace(options, modes=(noise_mode(options),), rounds=2 * rounds_of(options), check=False)


def noise_mode(options: RunOptions) -> str:
    """The timed mode an A/A run measures: latency when asked for, else throughput."""
    return "latency" if "latency" in options.modes else "throughput"


def noise(options: RunOptions, results_dir: Path = Path("results"), *, registry: Registry | None = None,
          console: Console | None = None, quiet: bool = False) -> tuple[RunReport, dict[str, Any]]:
    """Run the A/A cases of ``options`` and save their summary as noise.json in the run folder."""
    console = console or Console(stderr=True)
    rounds = rounds_of(options)
    report = run(noise_options(options), results_dir, registry=registry, console=console, quiet=quiet)
    summary = summarize_noise(load_results(report.run_dir), rounds, noise_mode(options))
    write_json_file(report.run_dir / NOISE_FILE, summary)
    if summary["tests"]:
        console.print(noise_line(summary), markup=False)
    return report, summary
