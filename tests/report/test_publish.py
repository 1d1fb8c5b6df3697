"""`rnnbench publish`: a static site whose index lists runs by machine, newest first, and keeps old runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from paths import GOLDEN

from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.report.publish import publish
from rnnbench.results.store import read_records, safe_filename

RUN, SWEEP, HOSTILE = (GOLDEN / n for n in ("report-run", "report-sweep", "report-hostile"))


def _run_id(run: Path) -> str:
    return next(read_records(run))["run_id"]


def _index_links(site: Path) -> list[tuple[str, str]]:
    html = (site / "index.html").read_text()
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)


def test_publish_writes_reports_an_index_and_nojekyll(tmp_path):
    site = tmp_path / "site"
    published = publish([RUN, SWEEP], site)
    ids = [_run_id(RUN), _run_id(SWEEP)]
    assert [p.run_id for p in published] == ids
    assert (site / ".nojekyll").is_file()
    for run_id in ids:
        report = (site / "reports" / f"{run_id}.html").read_text()
        assert report.startswith("<!DOCTYPE html>") and run_id in report
    # Newest first: the sweep ran after the first run on the same machine.
    assert _index_links(site) == [(f"reports/{ids[1]}.html", ids[1]), (f"reports/{ids[0]}.html", ids[0])]
    index = (site / "index.html").read_text()
    assert "<h2>vm (AMD EPYC, no GPU)</h2>" in index and "://" not in index
    assert "(backends: numpy, torch)" in index and "JAX" not in index  # what the runs used, not every backend
    assert sorted(p.name for p in site.rglob("*") if p.is_file()) == sorted(
        [".nojekyll", "index.html", "runs.json", *(f"{i}.html" for i in ids)])  # no records copied


def test_publishing_again_keeps_earlier_runs(tmp_path):
    site = tmp_path / "site"
    publish([RUN], site)
    publish([SWEEP], site)
    publish([SWEEP], site)  # again: replaced, not listed twice
    links = [text for _, text in _index_links(site)]
    assert links == [_run_id(SWEEP), _run_id(RUN)]
    manifest = json.loads((site / "runs.json").read_text())
    assert [r["run_id"] for r in manifest["runs"]] == sorted(links)


def test_hostile_run_is_escaped_and_its_file_stays_in_the_site(tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(HOSTILE, hostile)
    records = (hostile / "records.jsonl").read_text().replace(_run_id(HOSTILE), "../../<b>evil</b>")
    (hostile / "records.jsonl").write_text(records)
    site = tmp_path / "site"
    (run,) = publish([hostile], site)
    assert run.report == f"reports/{safe_filename('../../<b>evil</b>')}.html" and (site / run.report).is_file()
    assert not (tmp_path / "<b>evil</b>.html").exists()
    index = (site / "index.html").read_text()
    assert "&lt;b&gt;evil&lt;/b&gt;" in index and "<b>" not in index
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in index and "<script" not in index  # the machine name


def test_a_foreign_manifest_is_refused(tmp_path):
    (tmp_path / "runs.json").write_text('{"something": "else"}')
    with pytest.raises(UsageError, match="is not a site manifest of rnnbench publish"):
        publish([RUN], tmp_path)


def test_cli_publish(tmp_path, capsys):
    main(["publish", str(RUN), "--site", str(tmp_path / "site")])
    out = capsys.readouterr().out.splitlines()
    assert out == [f"published {_run_id(RUN)} -> {tmp_path / 'site' / 'reports' / (_run_id(RUN) + '.html')}",
                   f"index: {tmp_path / 'site' / 'index.html'}"]


def _built_docs(folder: Path, page: str) -> Path:
    """A stand-in for mkdocs' output: an index, a page in a subfolder, an asset."""
    (folder / "commands").mkdir(parents=True)
    (folder / "index.html").write_text(f"<!DOCTYPE html><title>{page}</title>")
    (folder / "commands" / "index.html").write_text("<!DOCTYPE html><title>commands</title>")
    (folder / "assets.css").write_text("body {}")
    return folder


def test_publish_puts_the_docs_beside_the_results_links_them_and_keeps_them(tmp_path):
    site = tmp_path / "site"
    first = _built_docs(tmp_path / "first", "first")
    publish([RUN], site, docs=first)
    assert sorted(p.relative_to(site / "docs").as_posix() for p in (site / "docs").rglob("*") if p.is_file()) == [
        "assets.css", "commands/index.html", "index.html"]
    assert ("docs/index.html", "the documentation") in _index_links(site)
    publish([SWEEP], site)  # no --docs: the copy and its link stay
    assert ("docs/index.html", "the documentation") in _index_links(site)
    second = tmp_path / "second"
    second.mkdir()
    (second / "index.html").write_text("second")
    main(["publish", str(RUN), "--site", str(site), "--docs", str(second)])  # the command line's option
    assert sorted(p.name for p in (site / "docs").iterdir()) == ["index.html"]  # replaced whole, not merged
    assert (site / "docs" / "index.html").read_text() == "second" and not list(site.glob(".docs.*"))


def test_publish_without_docs_has_no_docs_link(tmp_path):
    publish([RUN], tmp_path / "site")
    assert not any(href.startswith("docs/") for href, _ in _index_links(tmp_path / "site"))


@pytest.mark.parametrize("where", ["no index", "the site", "inside the site"])
def test_publish_refuses_docs_that_are_not_a_built_site_or_overlap_it_and_writes_nothing(tmp_path, where):
    site = tmp_path / "site"
    docs = {"no index": tmp_path / "empty", "the site": site, "inside the site": site / "docs"}[where]
    docs.mkdir(parents=True)
    if where != "no index":
        (docs / "index.html").write_text("docs")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(UsageError, match="no index.html" if where == "no index" else "overlaps the site"):
        publish([RUN], site, docs=docs)
    assert sorted(tmp_path.rglob("*")) == before
