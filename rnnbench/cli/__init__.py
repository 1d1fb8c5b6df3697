"""The command line: parses options and calls the public API, nothing more."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console

from rnnbench import __version__
from rnnbench.case import MODES
from rnnbench.cli.data import data_group
from rnnbench.cli.report import compare_command, publish_command, report_command
from rnnbench.errors import RnnbenchError, UsageError
from rnnbench.printable import printable
from rnnbench.spec import PRECISIONS

DTYPE_CHOICES = ("float64", "float32", "both", "mixed_bfloat16", "mixed_float16", "tf32")  # both: 64 and 32


def _console() -> Console:
    # Rich falls back to 80 columns off a terminal, which folds every table; logs can be wider.
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = max(console.width, 140)
    return console


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnnbench")
def cli() -> None:
    """Fair, reproducible benchmarks of RNNs across NumPy, PyTorch, TensorFlow/Keras and JAX."""


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List every backend and task, where it comes from and whether it is available; each backend's implementations."""
    from rnnbench.cli.tables import implementations_table, plugin_rows, plugins_table
    from rnnbench.plugins.registry import Registry

    rows = plugin_rows(Registry())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        console = _console()
        console.print(plugins_table(rows))
        console.print(implementations_table(rows))


cli.add_command(plugins_command, "list")
cli.add_command(data_group)
cli.add_command(report_command)
cli.add_command(compare_command)
cli.add_command(publish_command)


@cli.command("check")
@click.option("--backend", "backends", multiple=True, required=True,
              help="Backend to check (repeatable), or 'all' for every available one.")
@click.option("--dtype", type=click.Choice(DTYPE_CHOICES), default="both", show_default=True,
              help="Precision(s) to compare in; mixed_bfloat16, mixed_float16 and tf32 (GPUs only) against the float32 "
                   "reference (the reference's own check is always float64).")
@click.option("--device", default="cpu", show_default=True, help="Device of the checked backend: cpu or gpu:N.")
@click.option("--implementation", metavar="NAME|all",
              help="Check this implementation of each backend, or 'all' for each one that runs on the device "
                   "[default: each case's default; see `rnnbench plugins`].")
@click.option("--every-case", is_flag=True, help="One row per case, not only the worst per quantity.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def check_command(backends: tuple[str, ...], dtype: str, device: str, implementation: str | None, every_case: bool,
                  as_json: bool) -> None:
    """Prove a backend computes the reference function; exit 0 only if all is within tolerance."""
    from rnnbench.backend import canonical_device
    from rnnbench.cli.tables import conformance_table
    from rnnbench.conformance import REFERENCE_BACKEND, Report, run_checks
    from rnnbench.plugins.registry import Registry

    registry = Registry()
    chosen, skipped = registry.select_backends(list(backends))
    dtypes = ("float64", "float32") if dtype == "both" else (dtype,)
    device = canonical_device(device)
    reports = [report for b in chosen for report in run_checks(registry, b.name, dtypes, device, implementation)]
    # A backend whose plugin code failed before the check (under 'all') fails it; the others are checked.
    faults = registry.faults
    reports += [Report(name, REFERENCE_BACKEND, error=faults[name]) for name in skipped if name in faults]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        console = _console()
        for name, status in skipped.items():
            if name not in faults:
                console.print(f"skipped: {status.message(name)}", markup=False, soft_wrap=True)
        for report in reports:
            if report.comparisons:
                console.print(conformance_table(report, every_case))
            for note in report.skipped:
                console.print(f"not checked: {note}", markup=False)
            if report.error is not None:
                console.print(f"failed: {report.error}", markup=False, soft_wrap=True)
    if not reports or not all(r.ok for r in reports):
        sys.exit(1)


# CLI option name -> RunOptions field, for options that may be given several times (sweeps).
SWEEPS = {"backend": "backends", "task": "tasks", "cell": "cells", "device": "devices", "mode": "modes",
          "batch_size": "batch_sizes", "seq_len": "seq_lens", "hidden_size": "hidden_sizes",
          "num_layers": "num_layers", "seed": "seeds", "implementation": "implementations"}
FLAGS = {"timeout_s": "timeout"}  # RunOptions field -> its command-line flag, where they differ
SCALARS = ("profile", "synthetic", "dtype", "threads", "flush_denormals", "stop_at_target", "rounds", "timeout_s",
           "check", "memory_limit_mb", "steps", "warmup", "executor", "ray_address", "ray_share_nodes", "tuned")


@cli.command("run")
@click.option("--backend", multiple=True, help="Backend (repeatable) or 'all' [default: all].")
@click.option("--task", multiple=True, help="Task (repeatable) or 'all' [default: char_rnn, imdb, forecasting].")
@click.option("--cell", multiple=True, help="rnn, lstm, gru (repeatable) or 'all' [default: all].")
@click.option("--device", multiple=True, help="cpu, gpu, a device name, or 'all' [default: cpu].")
@click.option("--mode", multiple=True, type=click.Choice(list(MODES)),
              help="Measurement mode (repeatable) [default: throughput, memory and accuracy; latency when asked: "
                   "batch 1, whole sequence and streaming step, p50/p99].")
@click.option("--implementation", multiple=True,
              help="How each backend computes the network (repeatable): a name from `rnnbench plugins`, "
                   "'default' or 'all' [default: default].")
@click.option("--profile", type=click.Choice(["smoke", "quick", "full"]), help="[default: quick]")
@click.option("--synthetic", is_flag=True, default=None, help="Seeded random batches of the real shapes.")
@click.option("--seed", multiple=True, type=int,
              help="Seed of weights and batch order (repeatable: a sweep; full reports time to target over "
                   "the seeds) [default: 0].")
@click.option("--dtype", type=click.Choice(list(PRECISIONS)),
              help="float32, float64, mixed_bfloat16 (float32 parameters, bfloat16 compute), mixed_float16 "
                   "(the same in float16, with dynamic loss scaling), or tf32 (float32 with TensorFloat-32 "
                   "matmuls; GPUs only) [default: float32].")
@click.option("--batch-size", multiple=True, type=int, help="Override the batch size (repeatable: a sweep).")
@click.option("--seq-len", multiple=True, type=int, help="Override the sequence length (repeatable).")
@click.option("--hidden-size", multiple=True, type=int, help="Override the hidden size (repeatable).")
@click.option("--num-layers", multiple=True, type=int, help="Override the number of layers (repeatable).")
@click.option("--threads", type=int, help="CPU threads for every framework [default: all usable cores].")
@click.option("--flush-denormals", is_flag=True, default=None, help="Flush denormals to zero (tuned setting).")
@click.option("--stop-at-target", is_flag=True, default=None,
              help="Accuracy: stop training at the first evaluation that meets the task's target "
                   "(time to train) [default: train the whole budget].")
@click.option("--rounds", type=int,
              help="Fresh processes per throughput case, one a round, each round in a random order (the unit "
                   "of every speed test) [default: the profile's: smoke 1, quick 5, full 10].")
@click.option("--timeout", "timeout_s", type=float,
              help="Seconds per case [default: 600, or 1.5x the longest training budget + 300 (full: 3000)].")
@click.option("--memory-limit-mb", type=int, help="Address-space limit of each worker.")
@click.option("--check/--no-check", default=None,
              help="Check each backend and device against the NumPy reference before the cases [default: check].")
@click.option("--steps", type=int, help="Timed samples per throughput case and process [default: the profile's].")
@click.option("--warmup", type=int, help="Warm-up calls per throughput case [default: the profile's].")
@click.option("--executor", type=click.Choice(["local", "ray"]),
              help="Run cases here, one at a time, or as tasks on a Ray cluster [default: local].")
@click.option("--ray-address", help="Ray cluster to use with --executor ray [default: RAY_ADDRESS or a local one].")
@click.option("--ray-share-nodes", is_flag=True, default=None,
              help="With --executor ray, run several cases at once per node: a faster sweep, but the cases "
                   "disturb each other's timings [default: one case at a time per node].")
@click.option("--tuned", type=click.Path(exists=True, file_okay=False),
              help="An `rnnbench tune` run folder: run its cases at the settings it found.")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="TOML file of run options [default: [tool.rnnbench] in ./pyproject.toml].")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--resume", type=click.Path(path_type=Path), help="Finish the unfinished cases of this run folder.")
@click.option("--quiet", is_flag=True, help="No progress display.")
def run_command(config_path: Path | None, results_dir: Path, resume: Path | None, quiet: bool,
                **given: object) -> None:
    """Run the benchmark matrix: throughput in several fresh processes per case, memory and accuracy once."""
    from rnnbench.manager.options import RunOptions, load_config
    from rnnbench.manager.runner import run

    given_options = _given_options(given)
    if resume is not None and (given_options or config_path is not None):
        flags = [f"--{FLAGS.get(name, name).replace('_', '-')}" for name, value in given.items()
                 if value not in (None, ())] + (["--config"] if config_path is not None else [])
        changed = ", ".join(flags)
        raise UsageError(f"--resume finishes a run with the options it was started with; {changed} would change "
                         f"it. Accepted: --resume RUN_DIR alone (with --quiet), or a new run")
    options = RunOptions() if resume is not None else (
        RunOptions().with_config(load_config(config_path)).with_config(given_options))
    console = _console()
    with terminate_as_interrupt():
        report = run(options, results_dir, console=console, quiet=quiet, resume=resume)
    _print_summary(report.run_dir, console)


@cli.command("noise")
@click.option("--backend", multiple=True, help="Backend (repeatable) or 'all' [default: all].")
@click.option("--task", multiple=True, help="Task (repeatable) [default: forecasting].")
@click.option("--cell", multiple=True, help="rnn, lstm, gru (repeatable) or 'all' [default: lstm].")
@click.option("--implementation", multiple=True,
              help="How each backend computes the network (repeatable), as for run [default: default].")
@click.option("--profile", type=click.Choice(["smoke", "quick", "full"]), help="[default: quick]")
@click.option("--rounds", type=int, help="Processes a side of the A/A comparison [default: the profile's].")
@click.option("--mode", multiple=True, type=click.Choice(["throughput", "latency"]),
              help="The protocol to measure: throughput, or latency (p99 and streaming p50) [default: throughput].")
@click.option("--threads", type=int, help="CPU threads for every framework [default: all usable cores].")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--quiet", is_flag=True, help="No progress display.")
def noise_command(results_dir: Path, quiet: bool, **given: object) -> None:
    """An A/A run on this machine: a few cases in twice the rounds, the first half compared with the second.
    Prints the protocol's false-positive rate here and the smallest difference it resolves (80% power);
    noise.json in the run folder, which later verdicts on this machine quote."""
    from rnnbench.manager.noise import DEFAULT_CELLS, DEFAULT_TASKS, noise
    from rnnbench.manager.options import RunOptions

    options = RunOptions(tasks=DEFAULT_TASKS, cells=DEFAULT_CELLS).with_config(_given_options(given))
    console = _console()
    with terminate_as_interrupt():
        report, summary = noise(options, results_dir, console=console, quiet=quiet)
    for case in summary["cases"]:
        verdict = "significant" if case["significant"] else "not significant" if case["p_value"] is not None \
            else "not tested"
        console.print(f"{case['case_key']} {case['kind']}: A/A ratio {case['ratio']:.3f} ({verdict}); resolves "
                      f"{100 * (case['minimum_detectable_ratio'] - 1):.0f}% at 80% power", markup=False)
    console.print(f"noise: {report.run_dir / 'noise.json'}", markup=False)


@cli.command("tune")
@click.option("--backend", multiple=True, help="Backend (repeatable) or 'all' [default: all].")
@click.option("--task", multiple=True, help="Task (repeatable) or 'all' [default: char_rnn, imdb, forecasting].")
@click.option("--cell", multiple=True, help="rnn, lstm, gru (repeatable) or 'all' [default: all].")
@click.option("--device", multiple=True, help="cpu, gpu, a device name, or 'all' [default: cpu].")
@click.option("--profile", type=click.Choice(["smoke", "quick", "full"]), help="[default: quick]")
@click.option("--budget", "budget_s", type=float, default=1200.0, show_default=True,
              help="Seconds for the whole search; cases left when it is spent are not tuned.")
@click.option("--check/--no-check", default=None,
              help="Only implementations that pass the conformance check are candidates [default: check].")
@click.option("--timeout", "timeout_s", type=float, help="Seconds per worker [default: 600].")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="TOML file of run options [default: [tool.rnnbench] in ./pyproject.toml].")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--quiet", is_flag=True, help="No line per conformance check and per case; the summary only.")
def tune_command(config_path: Path | None, results_dir: Path, budget_s: float, quiet: bool,
                 **given: object) -> None:
    """Search implementations, denormal flushing and threads per case (successive halving), then measure the
    winner beside the default in the same run: speedup, interval, significance. Reuse: run --tuned RUN_DIR."""
    from rnnbench.manager.options import RunOptions, load_config
    from rnnbench.manager.tune import tune, tuned_summary

    options = RunOptions().with_config(load_config(config_path)).with_config(_given_options(given))
    console = _console()
    progress = Console(stderr=True, quiet=True) if quiet else console
    with terminate_as_interrupt():
        run_dir = tune(options, results_dir, console=progress, budget_s=budget_s)
    with_verdict, searched, why_not = tuned_summary(run_dir)
    if not with_verdict:  # no case measured: a verdict of none, and no settings to reuse
        raise RnnbenchError(f"nothing tuned: none of {searched} cases was decided ({why_not}); the records, if "
                            f"any, are in {run_dir}")
    console.print(f"tuned settings for {with_verdict} of {searched} cases in {run_dir / 'tuned.json'}; reuse them "
                  f"with: rnnbench run --tuned {run_dir}", markup=False)
    _print_summary(run_dir, console)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end a run as Ctrl-C does: cases stopped, records kept, the resume line printed."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _given_options(given: dict[str, object]) -> dict[str, object]:
    """Only the options given on the command line (they override the configuration file)."""
    options: dict[str, object] = {}
    for name, value in given.items():
        if name in SWEEPS and value:
            options[SWEEPS[name]] = list(value)  # type: ignore[call-overload]
        elif name in SCALARS and value is not None:
            options[name] = value
    return options


def _print_summary(run_dir: Path, console: Console) -> None:
    from rnnbench.report.model import contenders, load_report_data
    from rnnbench.report.summary import summary_tables, verdict_lines
    from rnnbench.results.frame import load_results

    frame = contenders(load_results(run_dir))
    if frame.empty:
        console.print(f"no results in {run_dir}")
        return
    for table in summary_tables(frame):
        console.print(table)
    for line in verdict_lines(load_report_data([run_dir])):  # last, where the eye lands when the run ends
        console.print(line)
    failed = int((frame.status != "ok").sum())
    console.print(f"{len(frame)} records ({failed} not ok) in {run_dir}", markup=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `rnnbench` and `python -m rnnbench`: one line per handled error."""
    try:
        cli.main(args=argv, prog_name="rnnbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("rnnbench: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RnnbenchError as exc:
        click.echo(f"rnnbench: error: {printable(exc, one_line=False)}", err=True)
        sys.exit(exc.exit_code)
