"""`rnnbench data list|fetch|verify`: thin commands over ``rnnbench.data``.

``rnnbench/cli.py`` adds this group to the main one with ``cli.add_command(data_group)``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from rnnbench.data.catalog import DATASETS

NAMES = click.Choice([*sorted(DATASETS), "all"])


def _data_dir_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Data dir (default: $RNNBENCH_DATA_DIR, else the user's cache dir).")(function)


def _root(ctx: click.Context, explicit: Path | None) -> Path:
    from rnnbench.data.datadir import data_dir

    # `rnnbench data --data-dir X list` puts it on the group; `... list --data-dir X` on the command.
    group_value = ctx.parent.params.get("data_dir") if ctx.parent else None
    return data_dir(explicit or group_value)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


@click.group("data")
@_data_dir_option
def data_group(data_dir: Path | None) -> None:
    """List, fetch and verify the datasets (sha256-checked, from their canonical URLs)."""


@data_group.command("list")
@_data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_command(ctx: click.Context, data_dir: Path | None, as_json: bool) -> None:
    """Each dataset: its files, their size and whether they are in the data dir (not hashed)."""
    from rnnbench.data.fetch import status

    root = _root(ctx, data_dir)
    rows = status("all", root)
    if as_json:
        click.echo(json.dumps({"data_dir": str(root), "datasets": [asdict(r) for r in rows]}, indent=2))
        return
    table = Table("dataset", "cached", "size", title=f"data dir: {root}")
    table.add_column("files", no_wrap=True)
    for row in rows:
        table.add_row(row.name, row.state, _megabytes(row.size), "\n".join(row.files))
    _console().print(table)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


@data_group.command("fetch")
@click.argument("name", type=NAMES, default="all")
@_data_dir_option
@click.pass_context
def fetch_command(ctx: click.Context, name: str, data_dir: Path | None) -> None:
    """Download NAME (or all) into the data dir and verify every file; stop at the first bad one."""
    from rnnbench.data.fetch import fetch

    root = _root(ctx, data_dir)
    for report in fetch(name, root):
        click.echo(f"{report.state:10} {report.dataset:16} {root / report.path}")


@data_group.command("verify")
@click.argument("name", type=NAMES, default="all")
@_data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def verify_command(ctx: click.Context, name: str, data_dir: Path | None, as_json: bool) -> None:
    """Hash every file of NAME (or all) in the data dir again; exit 1 if any is corrupt."""
    from rnnbench.data.fetch import verify_all

    root = _root(ctx, data_dir)
    reports = verify_all(name, root)
    if as_json:
        click.echo(json.dumps({"data_dir": str(root), "files": [asdict(r) for r in reports]}, indent=2))
    else:
        table = Table("dataset", "file", "state", "detail", title=f"data dir: {root}")
        for report in reports:
            table.add_row(report.dataset, report.path, report.state, report.detail)
        _console().print(table)
    if any(r.state == "corrupt" for r in reports):
        sys.exit(1)
