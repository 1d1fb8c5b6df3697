"""Turning plugin listings and conformance reports into tables and JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from rnnbench.backend import Availability

if TYPE_CHECKING:
    from rnnbench.backend import Backend
    from rnnbench.conformance import Report
    from rnnbench.plugins import Origin
    from rnnbench.plugins.registry import Registry

DEVICE_KINDS = ("cpu", "gpu")


def plugin_rows(registry: Registry) -> list[dict]:
    """Every backend and task: name, kind, origin, versions, availability; a backend's implementations.

    A backend whose plugin code fails is listed as not available, the failure as the reason; a plugin
    whose registration hook fails is listed (kind "plugin") with that reason.
    """
    rows = []
    for entry in registry.backend_entries.values():
        backend = registry.backend(entry.name)  # a stand-in, never available, where the plugin failed
        status = backend.available()
        rows.append(_row(entry.name, "backend", entry.origin, backend.description, status,
                         registry.versions(entry.name)) | implementation_fields(backend))
    for entry in registry.task_entries.values():
        rows.append(_row(entry.name, "task", entry.origin, entry.cls.description, registry.task_status(entry.name),
                         {}))
    listed = {row["name"] for row in rows}
    for plugin, fault in registry.faults.items():
        if plugin not in listed:
            rows.append(_row(plugin, "plugin", registry.pm.origin_of(plugin), "", Availability(False, fault), {}))
    return rows


def _row(name: str, kind: str, origin: Origin, description: object, status: Availability,
         versions: dict[str, str]) -> dict:
    return {
        "name": name,
        "kind": kind,
        "origin": origin.describe(),
        "plugin": origin.plugin,
        "description": description if isinstance(description, str) else "",
        "versions": versions,
        "available": status.ok,
        "reason": status.reason,
        "install_hint": status.install_hint,
    }


def implementation_fields(backend: Backend) -> dict:
    """A backend's implementations, and for each device kind its default's name and rule (None: none runs there)."""
    implementations = backend.implementations()
    kinds = [kind for kind in DEVICE_KINDS if any(i.runs_on(kind) for i in implementations)]
    return {
        "trains": backend.trains,  # False: an inference runtime, measured in inference and latency only
        "implementations": [{"name": i.name, "description": i.description, "devices": list(i.devices),
                             "trains": backend.trains_with(i.name)}  # False: an export path, or an inference runtime
                            for i in implementations],
        "default_implementation": {kind: backend.default_implementation(kind) if kind in kinds else None
                                   for kind in DEVICE_KINDS},
        "default_rule": {kind: backend.default_rule(kind) if kind in kinds else None for kind in DEVICE_KINDS},
    }


def plugins_table(rows: list[dict]) -> Table:
    table = Table(title="rnnbench plugins")
    for column in ("name", "kind", "origin", "framework", "available"):
        table.add_column(column)
    for row in rows:
        versions = ", ".join(f"{k} {v}" for k, v in row["versions"].items()) or "-"
        if row["available"]:
            available = "[green]yes[/green]"
        else:
            hint = f"; {row['install_hint']}" if row["install_hint"] else ""
            available = f"[red]no[/red]: {escape(row['reason'] + hint)}"  # escaped: keeps [jax]
        kind = "backend (inference only)" if row.get("trains") is False else row["kind"]
        table.add_row(escape(row["name"]), kind, escape(row["origin"]), escape(versions), available)
    return table


def implementations_table(rows: list[dict]) -> Table:
    """One row per implementation of each backend: the devices it runs on, where it is the default, what it is.

    A default that depends on the network is marked "(rule)"; the caption
    gives each such rule.
    """
    rules = [f"{row['name']} on {kind}: {rule}" for row in rows if "implementations" in row
             for kind, rule in row["default_rule"].items() if rule not in (None, row["default_implementation"][kind])]
    table = Table(title="implementations (rnnbench check --implementation NAME|all)",
                  caption=escape("default (rule): " + "; ".join(rules)) if rules else None)
    for column in ("backend", "implementation", "runs on", "default on", "description"):
        table.add_column(column)
    for row in rows:
        for implementation in row.get("implementations", []):
            table.add_row(escape(row["name"]), escape(implementation["name"]),
                          ", ".join(implementation["devices"]) or "[red]nowhere here[/red]",
                          ", ".join(_default_on(row, implementation["name"])) or "-",
                          escape(("" if implementation.get("trains", True) else "(inference only) ")
                                 + implementation["description"]))
    return table


def _default_on(row: dict, name: str) -> list[str]:
    """The device kinds where ``name`` is the default, "gpu (rule)" where a rule may pick it."""
    places = []
    for kind, default in row["default_implementation"].items():
        rule = row["default_rule"][kind]
        if rule is None:
            continue
        if rule == default:
            places += [kind] if name == default else []
        elif name in rule.replace(",", " ").split():
            places.append(f"{kind} (rule)")
    return places


def conformance_table(report: Report, every_case: bool = False) -> Table:
    """Largest absolute and relative error per quantity (per case with ``every_case``)."""
    verdict = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
    checked = escape(f"{report.backend!r} ({report.implementation_label}) against {report.reference}")
    table = Table(title=f"conformance of {checked}: {verdict}")
    columns = ["quantity", "case", "max abs error", "max rel error", "tolerance (floor)", "worst", "ok"]
    mixed = len(report.implementations) > 1  # defaults that differ by case: say which ran each row
    for column in (["implementation"] if mixed else []) + columns:
        table.add_column(column, justify="right" if "error" in column else "left")
    rows = report.comparisons if every_case else report.worst_per_quantity()
    for c in rows:
        ok = "[green]ok[/green]" if c.ok else "[red]FAIL[/red]"
        cells = [escape(c.quantity), escape(c.case), f"{c.max_abs:.2e}", f"{c.max_rel:.2e}",
                 f"{c.tolerance:.0e} ({c.floor:.0e})", escape(c.worst), ok]
        table.add_row(*([escape(c.implementation)] if mixed else []) + cells)
    return table
