"""Output hooks that fail: one line each naming the plugin, and the run and the report go on."""

from __future__ import annotations

from rnnbench import hookimpl


@hookimpl
def rnnbench_update_machine_info(info):  # type: ignore[no-untyped-def]
    info["half written"] = object()  # not JSON: the whole addition is dropped


@hookimpl
def rnnbench_report_sections(frame):  # type: ignore[no-untyped-def]
    raise RuntimeError("no sections today")
