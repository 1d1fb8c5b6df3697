"""`rnnbench report`, `rnnbench compare` and `rnnbench publish`: thin commands over ``rnnbench.report``.

``rnnbench/cli.py`` adds each with ``cli.add_command(...)``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from rnnbench.errors import UsageError


class FiniteFloatRange(click.FloatRange):
    """A float range that refuses NaN and infinities, which compare as inside any open-ended range
    (``--fail-on-regression nan`` turned the CI gate off)."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


RUN_PATH = click.Path(exists=True, path_type=Path)  # a run folder, a folder of runs, or a pytest-benchmark JSON file
FORMATS = ("html", "markdown", "csv")


def _default_output(runs: tuple[Path, ...], fmt: str) -> Path | None:
    """HTML: inside the run folder when there is exactly one, else ./report.html; text: standard output."""
    from rnnbench.results.store import run_dirs

    if fmt != "html":
        return None
    found = run_dirs(list(runs))
    if len(found) != 1:
        return Path("report.html")
    return found[0].with_suffix(".html") if found[0].is_file() else found[0] / "report.html"  # bench.json -> bench.html


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=RUN_PATH)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True,
              help="html: one self-contained page; markdown: tables for a README; csv: numbers for a spreadsheet.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="File to write ('-': standard output). Default: for html, RUN/report.html when one run folder "
                   "is given (BENCH.html beside a pytest-benchmark BENCH.json), else ./report.html; "
                   "for markdown and csv, standard output.")
def report_command(runs: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """Report the runs in RUNS (run folders, or folders of runs), several side by side.

    Per task: throughput with 95% intervals, ratios to the fastest, first-step
    time, memory, the task metric and time to target, kernel paths and
    failures; charts as inline SVG; the environment of every machine.
    """
    from rnnbench.report.html import render_html
    from rnnbench.report.model import load_report_data
    from rnnbench.report.text import render_csv, render_markdown

    data = load_report_data(runs)
    _note_skipped(data.skipped)
    text = {"html": render_html, "markdown": render_markdown, "csv": render_csv}[fmt](data)
    output = output or _default_output(runs, fmt)
    if output is None or str(output) == "-":
        _to_stdout(text, "the report")
        return
    write_output(output, text)
    _to_stdout(f"wrote {output} ({len(data.tasks)} tasks, {len(data.frame)} records)\n", f"the line naming {output}")


def _note_skipped(skipped: tuple[str, ...] | list[str]) -> None:
    from rnnbench.printable import printable

    for line in skipped:
        click.echo(f"rnnbench: skipped {printable(line)}", err=True)


def write_output(path: Path, text: str) -> None:
    """``text`` as the file ``path``, whole or not at all (a temporary file beside it, renamed over it): a full
    disk or a crash leaves the old file or none, never a cut one. A device or pipe (``/dev/stdout``,
    ``/dev/null``, a FIFO) is written as it is, since it cannot be replaced. UsageError, in one line, when it
    cannot be written."""
    from rnnbench.files import write_atomic

    try:
        if path.exists() and not path.is_file():
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text)
        else:  # through a link to a file, the file is replaced: the link keeps pointing where it did
            write_atomic(path.resolve() if path.is_symlink() else path, text)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}. Accepted: a file in an "
                         "existing, writable folder with room for it") from None


def _to_stdout(text: str, what: str) -> None:
    """``text`` on standard output; UsageError in one line when it cannot take it (a full disk, /dev/full)."""
    try:
        click.echo(text, nl=False)  # and flushed
    except OSError as exc:
        _drop_stdout()
        raise UsageError(f"cannot write {what} to standard output: {exc.strerror or exc}. Accepted: an output "
                         "with room for it, or -o FILE") from None


def _drop_stdout() -> None:
    """Point standard output at the null device, so the interpreter's last flush of what it still holds does
    not fail again and print a second message (Python's advice for a closed pipe)."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test's capture): nothing will be flushed to it at exit
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)


@click.command("compare")
@click.argument("base", type=RUN_PATH)
@click.argument("new", type=RUN_PATH)
@click.option("--fail-on-regression", "fail_percent", type=FiniteFloatRange(min=0), metavar="PCT",
              help="Exit 1 if any significant slowdown exceeds PCT percent (for CI).")
@click.option("--run-spread", "run_spread", type=FiniteFloatRange(min=0, max=100), metavar="PCT",
              help="The standard deviation of a whole run's speed, in percent, added to every test between two "
                   "runs [default: this machine's `rnnbench noise` beside NEW, else the development VM's 1.4%].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def compare_command(base: Path, new: Path, fail_percent: float | None, run_spread: float | None,
                    as_json: bool) -> None:
    """Compare step times and latencies of NEW against BASE, case by case, saying "not significant" unless
    they differ.

    BASE and NEW are run folders (or folders of runs, pooled). For each
    throughput case in both, each worker process is one value (its median
    step time); for each latency case, its p99 of a whole sequence and its
    streaming p50. The ratio NEW/BASE with a 95% interval and Welch's t-test
    on the logs, with the run-to-run spread of the machine's speed added (two
    runs differ as wholes). Under 3 processes a side (--rounds) there is no
    test, which --fail-on-regression ignores.
    """
    from rnnbench.report.compare import RegressionError, compare_runs
    from rnnbench.report.compare_table import compare_table, notes

    result = compare_runs(base, new, None if run_spread is None else run_spread / 100)
    if not result.comparisons:
        raise UsageError(f"no throughput or latency case was measured in both {base} and {new}. "
                         "Accepted: two runs of the same cases (rnnbench run --mode throughput or --mode latency)")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console = Console(highlight=False, soft_wrap=False, width=max(Console().width, 160))
        console.print(compare_table(result, str(base), str(new)))
        for line in notes(result):
            console.print(line, markup=False)
    if fail_percent is not None and (found := result.regressions(fail_percent)):
        worst = max(found, key=lambda c: c.ratio)
        raise RegressionError(f"{len(found)} significant slowdowns above {fail_percent:g}%; worst "
                              f"{worst.case_id} ({worst.kind}) {worst.change_percent:+.1f}%")


@click.command("publish")
@click.argument("runs", nargs=-1, required=True, type=RUN_PATH)
@click.option("--site", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the static site (created if missing; runs published earlier stay listed).")
@click.option("--docs", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A built documentation site (mkdocs build: build/docs) to put beside the results as SITE/docs, "
                   "linked from the index; a later publish without it keeps the copy.")
def publish_command(runs: tuple[Path, ...], site: Path, docs: Path | None) -> None:
    """Publish the runs in RUNS as a static site: an index by machine and date linking each run's report.

    Refused, with nothing written: no run in RUNS, a run whose id the site already gives to a different
    run (the same run again replaces its report), or a --docs folder without index.html or overlapping
    the site.
    """
    from rnnbench.report.publish import publish

    skipped: list[str] = []
    published = publish(runs, site, skipped, docs)
    _note_skipped(skipped)
    lines = [f"published {run.run_id} -> {site / run.report}" for run in published]
    _to_stdout("".join(f"{line}\n" for line in [*lines, f"index: {site / 'index.html'}"]), "a line")
