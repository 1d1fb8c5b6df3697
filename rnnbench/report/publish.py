"""``rnnbench publish``: a static site of run reports, ready for GitHub Pages.

The site holds ``index.html`` (runs grouped by machine, newest first),
``reports/<run-id>.html`` (each run's self-contained report), ``runs.json``
(what the index lists, so publishing more runs later keeps the earlier
ones), ``.nojekyll`` and, when given a built documentation site
(``mkdocs build``), a copy of it as ``docs/``, which the index links; a
later publish without one keeps it. Records are not copied: a report carries what a
reader needs, and the site stays small. Every file is written whole or not
at all (``rnnbench.files.write_atomic``), so a full disk or a crash leaves
each page as it was or as it is now, never cut short.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rnnbench import __version__
from rnnbench.errors import ResultsWriteError, RnnbenchError, UsageError
from rnnbench.files import write_atomic
from rnnbench.report.html import environment, render_html
from rnnbench.report.model import ReportData, load_report_data
from rnnbench.report.views import run_view
from rnnbench.results.store import run_dirs, safe_filename

MANIFEST = "runs.json"
REPORTS = "reports"
DOCS = "docs"  # the documentation site beside the results


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
    view = run_view(data, run_dir)
    frame = data.frame
    return PublishedRun(view.run_id, view.machines, view.created, view.profiles,
                        ", ".join(sorted(map(str, frame.task.unique()))),
                        ", ".join(sorted(map(str, frame.backend.unique()))), view.records, view.not_ok,
                        _report_path(view.run_id))


def read_manifest(site: Path) -> dict[str, PublishedRun]:
    path = site / MANIFEST
    if not path.is_file():
        if (site / "index.html").exists():
            raise UsageError(f"{site} holds an index.html but no {MANIFEST}: it is not a site rnnbench publish wrote, "
                             "and publishing would replace its index. Accepted: a new folder, or one rnnbench "
                             "publish wrote")
        return {}
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
        # The link is rebuilt from the run id, never taken from the file: it must stay a file of this site.
        return {run["run_id"]: PublishedRun(**run | {"report": _report_path(run["run_id"])}) for run in runs}
    except OSError as exc:
        raise ResultsWriteError(f"cannot read {path}: {exc.strerror or exc}") from None
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
    """The manifest, then the index it lists (a failure between them leaves a manifest the next publish
    indexes), each written whole or not at all."""
    path = site / "index.html"
    docs = f"{DOCS}/index.html" if (site / DOCS / "index.html").is_file() else None
    html = environment().get_template("index.html.j2").render(machines=_by_machine(runs.values()), docs=docs,
                                                             backends=_backends(runs.values()), version=__version__)
    manifest = {"runs": [asdict(r) for r in sorted(runs.values(), key=lambda r: r.run_id)]}
    _write(site / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    _write(path, html)
    return path


def publish(paths: Iterable[str | Path], site: str | Path, skipped: list[str] | None = None,
            docs: str | Path | None = None) -> list[PublishedRun]:
    """Render a report per run into ``site`` and rewrite its index; earlier runs stay listed.

    ``docs``, a built documentation site, is copied in as ``site/docs`` (replacing the copy there) and the
    index links it.

    Everything is read and checked before anything is written, so a refusal leaves the site as it was: no
    run to publish, or a run whose id (or report file) the site or another of the runs gives to a
    different run (UsageError; the same run again replaces its report). What a report could not read is
    noted in ``skipped`` (as ``ReportData.skipped``), and so is a run found inside a folder that cannot
    be read at all. Each file is written whole or not at all; a file that cannot be written is
    ResultsWriteError, in one line naming it.
    """
    site, paths = Path(site), list(paths)
    if docs is not None:
        _check_docs(Path(docs), site)
    notes: list[str] = []
    runs = read_manifest(site)
    rendered = []
    for run_dir, data in _readable(paths, notes):
        run = _published(data, run_dir)
        _refuse_a_different_run(site, runs, run, run_dir)
        runs[run.run_id] = run
        rendered.append((run, render_html(data)))
        notes.extend(data.skipped)
    if skipped is not None:
        skipped.extend(notes)
    if not rendered:
        why = f": {notes[0]}" if notes else ""
        raise UsageError(f"nothing to publish in {', '.join(map(str, paths))}{why}. Accepted: run folders of "
                         "rnnbench run, folders of them, or pytest-benchmark JSON files")
    _mkdir(site / REPORTS)
    for run, html in rendered:
        _write(site / run.report, html)
    if not (site / ".nojekyll").exists():
        _write(site / ".nojekyll", "")  # GitHub Pages serves the files as they are
    if docs is not None:
        _place_docs(Path(docs), site)
    write_index(site, runs)  # last: it links the documentation only once the copy is in place
    return [run for run, _ in rendered]


def _readable(paths: list[str | Path], notes: list[str]) -> Iterator[tuple[Path, ReportData]]:
    """Each run and its report data; a run found inside a folder that cannot be read is noted and left out,
    one named directly is an error."""
    named = {Path(p) for p in paths}
    for run_dir in run_dirs(paths):
        try:
            yield run_dir, load_report_data(run_dir)
        except RnnbenchError as exc:
            if run_dir in named:
                raise
            notes.append(f"{exc} (the run is left out)")


def _refuse_a_different_run(site: Path, runs: dict[str, PublishedRun], run: PublishedRun, run_dir: Path) -> None:
    """UsageError when the site already gives the run's id, or its report file, to a run that is not this one
    (another machine or start time: the same run, resumed since, is published again)."""
    taken = runs.get(run.run_id) or next((r for r in runs.values() if r.report == run.report), None)
    if taken is None or (taken.run_id, taken.machine, taken.created) == (run.run_id, run.machine, run.created):
        return
    what = "id" if taken.run_id == run.run_id else f"report file {run.report}"
    raise UsageError(f"{site} already publishes run {taken.run_id!r} (machine {taken.machine!r}, started "
                     f"{taken.created!r}); {run_dir} is a different run (machine {run.machine!r}, started "
                     f"{run.created!r}) with the same {what}, and nothing was written. Accepted: the same run "
                     "again (its report is replaced), or a run of another id")


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsWriteError(f"cannot create the folder {folder}: {exc.strerror or exc}. Accepted: a site "
                                "folder that can be written") from None


def _write(path: Path, text: str) -> None:
    """``text`` as ``path``, whole or not at all; ResultsWriteError naming the path and the reason."""
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise ResultsWriteError(f"cannot write {path}: {exc.strerror or exc}; the file is as it was. Accepted: "
                                "a site folder that can be written and has room") from None


def _check_docs(docs: Path, site: Path) -> None:
    """UsageError, before anything is written, unless ``docs`` is a built site that lies outside ``site``."""
    if not (docs / "index.html").is_file():
        raise UsageError(f"--docs {docs} holds no index.html. Accepted: a built documentation site (mkdocs build "
                         "writes it to build/docs/)")
    inside, outside = docs.resolve(), site.resolve()
    if inside == outside or outside in inside.parents or inside in outside.parents:
        raise UsageError(f"--docs {docs} overlaps the site {site}. Accepted: a documentation folder outside the "
                         "site and not holding it")


def _place_docs(docs: Path, site: Path) -> None:
    """A copy of ``docs`` as ``site/docs``, swapped in whole: a failed copy leaves the site's docs as they were."""
    target, new, old = site / DOCS, site / f".{DOCS}.new", site / f".{DOCS}.old"
    for leftover in (new, old):  # of a publish that was killed mid-copy
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        shutil.copytree(docs, new)
        if target.exists():
            target.rename(old)
        try:
            new.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
    except OSError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise ResultsWriteError(f"cannot copy the documentation {docs} to {target}: {_reason(exc)}; the site's "
                                "documentation is as it was. Accepted: a site folder that can be written and "
                                "has room") from None
    shutil.rmtree(old, ignore_errors=True)


def _reason(exc: OSError) -> str:
    """The first cause: shutil.copytree gathers every file's error into one shutil.Error."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        return str(exc.args[0][0][-1])
    return exc.strerror or str(exc)
