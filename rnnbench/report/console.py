"""The comparison as a rich table for the terminal. Record text is escaped, never read as rich markup."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from rnnbench.report.columns import seconds
from rnnbench.report.compare import ALPHA, CompareResult

STYLES = {"slower": "red", "faster": "green", "not significant": "dim"}


def compare_table(result: CompareResult, base: str, new: str) -> Table:
    table = Table(title=escape(f"step time {new} / {base}: ratio of medians [95% bootstrap interval], "
                               f"Mann-Whitney U p-value; significant when p < {ALPHA} and the interval excludes 1"))
    for column in ("case", "kind", "base median", "new median", "new/base [95% CI]", "change", "p", "verdict"):
        table.add_column(column, justify="left" if column in ("case", "kind", "verdict") else "right",
                         overflow="fold")
    for c in result.comparisons:
        style = STYLES[c.verdict]
        table.add_row(escape(c.case_id), c.kind, seconds(c.base_median_s), seconds(c.new_median_s),
                      f"{c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]", f"{c.change_percent:+.1f}%",
                      f"{c.p_value:.3g}", f"[{style}]{c.verdict}[/{style}]")
    return table


def notes(result: CompareResult) -> list[str]:
    """Lines about the cases that could not be compared."""
    lines = [f"only in {where}: {case}" for where, cases in (("base", result.only_base), ("new", result.only_new))
             for case in cases]
    lines += [f"not compared (no successful timing in both): {case}" for case in result.not_ok]
    return lines
