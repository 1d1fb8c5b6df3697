"""The HTML report: one self-contained file rendered by Jinja2 with autoescaping on.

Style, the sort script and the charts are inline, so the page opens from a
file on an offline machine. No value is marked safe: every string from the
records passes through autoescaping, in tables and in the SVG alike, after its control
characters are escaped (``rnnbench.printable``).
"""

from __future__ import annotations

from functools import lru_cache

import jinja2
import markupsafe

from rnnbench import __version__
from rnnbench.printable import printable
from rnnbench.report.model import PathsArg, ReportData, load_report_data
from rnnbench.report.views import report_view


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("rnnbench.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False,
                              finalize=_printable)


def _printable(value: object) -> object:
    """Every value a template prints, before autoescaping: a string's control characters escaped (autoescaping
    leaves them raw); markup the templates made themselves (a macro's output) as it is."""
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return printable(value)
    return value


def render_html(data: ReportData) -> str:
    return environment().get_template("report.html.j2").render(view=report_view(data), version=__version__)


def html_report(paths: PathsArg) -> str:
    """The HTML report of the run folders under ``paths`` (run folders or folders of runs)."""
    return render_html(load_report_data(paths))
