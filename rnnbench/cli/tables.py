"""Turning plugin listings and conformance reports into tables and JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rnnbench.conformance import Report
    from rnnbench.plugins.registry import Entry, Registry


def plugin_rows(registry: Registry) -> list[dict]:
    """Every backend and task: name, kind, origin, versions, availability."""
    rows = []
    entries: list[Entry[Any]] = [*registry.backend_entries.values(), *registry.task_entries.values()]
    for entry in entries:
        plugin = entry.cls()
        status = plugin.available()
        versions = plugin.versions() if entry.kind == "backend" and status.ok else {}
        rows.append({
            "name": entry.name,
            "kind": entry.kind,
            "origin": entry.origin.describe(),
            "plugin": entry.origin.plugin,
            "description": entry.cls.description,
            "versions": versions,
            "available": status.ok,
            "reason": status.reason,
            "install_hint": status.install_hint,
        })
    return rows


def plugins_table(rows: list[dict]) -> Table:
    table = Table(title="rnnbench plugins")
    for column in ("name", "kind", "origin", "framework", "available"):
        table.add_column(column)
    for row in rows:
        versions = ", ".join(f"{k} {v}" for k, v in row["versions"].items()) or "-"
        if row["available"]:
            available = "[green]yes[/green]"
        else:
            available = f"[red]no[/red]: {escape(row['reason'])}; {escape(row['install_hint'])}"  # keeps [jax]
        table.add_row(escape(row["name"]), row["kind"], escape(row["origin"]), escape(versions), available)
    return table


def conformance_table(report: Report, every_case: bool = False) -> Table:
    """Largest absolute and relative error per quantity (per case with ``every_case``)."""
    verdict = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
    table = Table(title=f"conformance of {report.backend!r} against {report.reference}: {verdict}")
    for column in ("quantity", "case", "max abs error", "max rel error", "tolerance (floor)", "worst", "ok"):
        table.add_column(column, justify="right" if "error" in column else "left")
    rows = report.comparisons if every_case else report.worst_per_quantity()
    for c in rows:
        ok = "[green]ok[/green]" if c.ok else "[red]FAIL[/red]"
        table.add_row(escape(c.quantity), escape(c.case), f"{c.max_abs:.2e}", f"{c.max_rel:.2e}",
                      f"{c.tolerance:.0e} ({c.floor:.0e})", escape(c.worst), ok)
    return table
