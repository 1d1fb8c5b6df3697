"""A plugin that only adds output: a machine fact and a report section, through hooks alone.

``reporting`` adds the fact ``lab_rack`` and a section counting records per backend; ``reporting_faulty``
raises in both hooks (its failures must be one line each, and the run and the report go on).
"""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.report.section import ReportSection


@hookimpl
def rnnbench_update_machine_info(info):  # type: ignore[no-untyped-def]
    info["lab_rack"] = "B4 <shelf 2>\x1b[2J"  # shown escaped, never as markup or a terminal command


@hookimpl
def rnnbench_report_sections(frame):  # type: ignore[no-untyped-def]
    counts = frame.groupby("backend").size()
    return [ReportSection("Records per backend", "How many records each backend has in this report.",
                          ("backend", "records"), tuple((str(b), str(n)) for b, n in counts.items()))]
