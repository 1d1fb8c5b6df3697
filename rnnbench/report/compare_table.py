"""The comparison as a rich table for the terminal. Record text is escaped (control characters and rich markup)."""

from __future__ import annotations

from rich.table import Table

from rnnbench.printable import printable
from rnnbench.report.columns import seconds
from rnnbench.report.compare import (
    ALPHA,
    MIN_PROCESSES,
    NOT_COMPARABLE,
    ONE_PROCESS,
    TOO_FEW,
    CompareResult,
    Comparison,
)
from rnnbench.report.summary import rich_text

STYLES = {"slower": "red", "faster": "green", "not significant": "dim", TOO_FEW: "yellow", ONE_PROCESS: "yellow",
          NOT_COMPARABLE: "magenta"}


def compare_table(result: CompareResult, base: str, new: str) -> Table:
    table = Table(title=rich_text(f"step time and latency {new} / {base}: one value per worker process (its median "
                              "step; its p99 or streaming p50 over its calls); ratio of "
                              f"geometric means [95% t interval], Welch's t-test on the logs (paired by round "
                              f"within one run); significant when p < {ALPHA}; a test needs {MIN_PROCESSES} "
                              "processes a side"))
    for column in ("case", "kind", "processes", "base median", "new median", "new/base [95% CI]", "change", "p",
                   "outcome"):
        table.add_column(column, justify="left" if column in ("case", "kind", "processes", "outcome") else "right",
                         overflow="fold")
    for c in result.comparisons:
        style = STYLES[c.outcome]
        table.add_row(rich_text(c.case_id), c.kind, f"{c.n_base}/{c.n_new} {c.basis}", seconds(c.base_median_s),
                      seconds(c.new_median_s), _ratio(c), f"{c.change_percent:+.1f}%",
                      "-" if c.p_value is None else f"{c.p_value:.3g}",
                      f"[{style}]{rich_text(_outcome_text(c))}[/{style}]")
    return table


def _outcome_text(c: Comparison) -> str:
    """The outcome, why there is none, and how the two measurements differed."""
    return c.outcome + "".join(f"; {note}" for note in (c.reason, c.differences) if note)


def _ratio(c: Comparison) -> str:
    interval = "" if c.ci_low is None or c.ci_high is None else f" [{c.ci_low:.3f}, {c.ci_high:.3f}]"
    return f"{c.ratio:.3f}{interval}"


def notes(result: CompareResult) -> list[str]:
    """Lines about the run spread the tests added, and the cases that could not be compared."""
    across = any(c.basis == "processes" and c.p_value is not None for c in result.comparisons)
    lines = [f"between two runs the {mode} tests add a run-to-run spread of {100 * spread:.1f}% ({source})"
             for mode, (spread, source) in result.spreads.items()] if across else []
    lines += [f"only in {where}: {case}" for where, cases in (("base", result.only_base), ("new", result.only_new))
             for case in cases]
    lines += [f"not compared (no successful timing in both): {case}" for case in result.not_ok]
    if refused := sum(c.outcome == NOT_COMPARABLE for c in result.comparisons):
        lines.append(f"{refused} comparisons are {NOT_COMPARABLE}: the two sides differ in machine or workload "
                     "(see each case's outcome); no outcome was given for them")
    if few := sum(c.outcome in (TOO_FEW, ONE_PROCESS) for c in result.comparisons):
        lines.append(f"{few} comparisons are not tested (under {MIN_PROCESSES} processes a side: run with "
                     "--rounds 3 or more): no outcome, and --fail-on-regression does not count them")
    if named := sum(c.differences is not None for c in result.comparisons):
        lines.append(f"{named} comparisons measured differently on the two sides (protocol, framework versions "
                     "or threads, named beside each outcome): the ratio includes that difference")
    return [printable(line) for line in lines]
