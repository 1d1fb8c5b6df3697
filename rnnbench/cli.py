"""The command line: parses options and calls the public API, nothing more."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from rnnbench import __version__
from rnnbench.cli_data import data_group
from rnnbench.errors import RnnbenchError

DTYPE_CHOICES = ("float64", "float32", "both")


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
    """List every backend and task, where it comes from and whether it is available."""
    from rnnbench.display import plugin_rows, plugins_table
    from rnnbench.registry import Registry

    rows = plugin_rows(Registry())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _console().print(plugins_table(rows))


cli.add_command(plugins_command, "list")
cli.add_command(data_group)


@cli.command("check")
@click.option("--backend", "backends", multiple=True, required=True,
              help="Backend to check (repeatable), or 'all' for every available one.")
@click.option("--dtype", type=click.Choice(DTYPE_CHOICES), default="both", show_default=True,
              help="Parameter dtype(s) to compare in (the reference check is always float64).")
@click.option("--device", default="cpu", show_default=True, help="Device of the checked backend, e.g. cuda:0.")
@click.option("--every-case", is_flag=True, help="One row per case, not only the worst per quantity.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def check_command(backends: tuple[str, ...], dtype: str, device: str, every_case: bool, as_json: bool) -> None:
    """Prove a backend computes the reference function; exit 0 only if all is within tolerance."""
    from rnnbench.conformance import run_check
    from rnnbench.display import conformance_table
    from rnnbench.registry import Registry

    registry = Registry()
    chosen, skipped = registry.select_backends(list(backends))
    dtypes = ("float64", "float32") if dtype == "both" else (dtype,)
    reports = [run_check(registry, b.name, dtypes, device) for b in chosen]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        console = _console()
        for name, status in skipped.items():
            console.print(f"skipped: {status.message(name)}")
        for report in reports:
            console.print(conformance_table(report, every_case))
            for note in report.skipped:
                console.print(f"not checked: {note}")
    if not reports or not all(r.ok for r in reports):
        sys.exit(1)


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
        click.echo(f"rnnbench: error: {exc}", err=True)
        sys.exit(exc.exit_code)
