"""``rnnbench publish``: a static site of run reports, ready for GitHub Pages.

The site holds ``index.html`` (runs grouped by machine, newest first),
``reports/<run-id>.html`` (each run's self-contained report), ``runs.json``
(what the index lists, so publishing more runs later keeps the earlier
ones) and ``.nojekyll``. Records are not copied: a report carries what a
reader needs, and the site stays small.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from rnnbench import __version__
from rnnbench.errors import UsageError
from rnnbench.report.html import environment, render_html
from rnnbench.report.model import ReportData, load_report_data
from rnnbench.report.views import run_view
from rnnbench.results.store import run_dirs, safe_filename

MANIFEST = "runs.json"
REPORTS = "reports"


@dataclass(frozen=True)
class PublishedRun:
    run_id: str
    machine: str
    created: str
    profiles: str
    tasks: str
    backends: str
    records: int
    not_ok: int
    report: str  # path of the report, relative to the site


def _report_path(run_id: str) -> str:
    return f"{REPORTS}/{safe_filename(run_id, default='run')}.html"


def _published(data: ReportData, run_dir: Path) -> PublishedRun:
    view = run_view(run_dir, data.frame)
    frame = data.frame
    return PublishedRun(view.run_id, view.machines, view.created, view.profiles,
                        ", ".join(sorted(map(str, frame.task.unique()))),
                        ", ".join(sorted(map(str, frame.backend.unique()))), view.records, view.not_ok,
                        _report_path(view.run_id))


def read_manifest(site: Path) -> dict[str, PublishedRun]:
    path = site / MANIFEST
    if not path.is_file():
        return {}
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
        # The link is rebuilt from the run id, never taken from the file: it must stay a file of this site.
        return {run["run_id"]: PublishedRun(**run | {"report": _report_path(run["run_id"])}) for run in runs}
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not a site manifest of rnnbench publish ({exc}). "
                         "Accepted: a new folder, or one rnnbench publish wrote") from exc


def _by_machine(runs: Iterable[PublishedRun]) -> list[tuple[str, list[PublishedRun]]]:
    """Machines in name order; each machine's runs newest first."""
    machines: dict[str, list[PublishedRun]] = {}
    for run in runs:
        machines.setdefault(run.machine or "unknown machine", []).append(run)
    return [(machine, sorted(found, key=lambda r: (r.created, r.run_id), reverse=True))
            for machine, found in sorted(machines.items())]


def _backends(runs: Iterable[PublishedRun]) -> list[str]:
    """Every backend the listed runs measured, in name order (each run keeps them as "a, b")."""
    return sorted({name for run in runs for name in run.backends.split(", ") if name})


def write_index(site: Path, runs: dict[str, PublishedRun]) -> Path:
    path = site / "index.html"
    html = environment().get_template("index.html.j2").render(machines=_by_machine(runs.values()),
                                                             backends=_backends(runs.values()), version=__version__)
    path.write_text(html, encoding="utf-8")
    manifest = {"runs": [asdict(r) for r in sorted(runs.values(), key=lambda r: r.run_id)]}
    (site / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def publish(paths: Iterable[str | Path], site: str | Path) -> list[PublishedRun]:
    """Render a report per run folder into ``site`` and rewrite its index; earlier runs stay listed."""
    site = Path(site)
    (site / REPORTS).mkdir(parents=True, exist_ok=True)
    runs = read_manifest(site)
    added = []
    for run_dir in run_dirs(list(paths)):
        data = load_report_data(run_dir)
        run = _published(data, run_dir)
        (site / run.report).write_text(render_html(data), encoding="utf-8")
        runs[run.run_id] = run
        added.append(run)
    (site / ".nojekyll").touch()  # GitHub Pages serves the files as they are
    write_index(site, runs)
    return added
