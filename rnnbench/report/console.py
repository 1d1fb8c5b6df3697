"""The comparison as a rich table for the terminal. Record text is escaped, never read as rich markup."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from rnnbench.report.columns import seconds
from rnnbench.report.compare import ALPHA, MIN_SAMPLES, NOT_COMPARABLE, TOO_FEW, CompareResult, Comparison

STYLES = {"slower": "red", "faster": "green", "not significant": "dim", TOO_FEW: "yellow", NOT_COMPARABLE: "magenta"}


def compare_table(result: CompareResult, base: str, new: str) -> Table:
    table = Table(title=escape(f"step time {new} / {base}: ratio of medians [95% bootstrap interval], "
                               f"Mann-Whitney U p-value; significant when p < {ALPHA} and the interval excludes 1; "
                               f"values: per-repeat medians when both sides have 2+ repeats, else calls; "
                               f"a verdict needs {MIN_SAMPLES} values a side"))
    for column in ("case", "kind", "values", "base median", "new median", "new/base [95% CI]", "change", "p",
                   "verdict"):
        table.add_column(column, justify="left" if column in ("case", "kind", "values", "verdict") else "right",
                         overflow="fold")
    for c in result.comparisons:
        style = STYLES[c.verdict]
        table.add_row(escape(c.case_id), c.kind, f"{c.n_base}/{c.n_new} {c.basis}", seconds(c.base_median_s),
                      seconds(c.new_median_s), _ratio(c), f"{c.change_percent:+.1f}%",
                      "-" if c.p_value is None else f"{c.p_value:.3g}",
                      f"[{style}]{escape(c.verdict + (f': {c.reason}' if c.reason else ''))}[/{style}]")
    return table


def _ratio(c: Comparison) -> str:
    interval = "" if c.ci_low is None or c.ci_high is None else f" [{c.ci_low:.3f}, {c.ci_high:.3f}]"
    return f"{c.ratio:.3f}{interval}"


def notes(result: CompareResult) -> list[str]:
    """Lines about the cases that could not be compared."""
    lines = [f"only in {where}: {case}" for where, cases in (("base", result.only_base), ("new", result.only_new))
             for case in cases]
    lines += [f"not compared (no successful timing in both): {case}" for case in result.not_ok]
    if refused := sum(c.verdict == NOT_COMPARABLE for c in result.comparisons):
        lines.append(f"{refused} comparisons are {NOT_COMPARABLE}: the two sides differ in machine, framework "
                     "versions, threads or workload (see each case's verdict); no verdict was given for them")
    if few := sum(c.verdict == TOO_FEW for c in result.comparisons):
        lines.append(f"{few} comparisons have {TOO_FEW} (under {MIN_SAMPLES} values a side): no verdict, "
                     "and --fail-on-regression does not count them")
    return lines
