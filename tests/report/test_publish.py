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
