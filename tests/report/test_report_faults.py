"""Faults at the edges of `rnnbench report` and `rnnbench publish`: bad records and files, full and read-only
disks, devices, hostile text, a seed sweep. Real run folders (written by rnnbench's own writers), damaged on
disk, and the CLI in real subprocesses where its exit status and its one line are what is tested."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from paths import GOLDEN

from rnnbench.errors import UsageError
from rnnbench.report.model import load_report_data
from rnnbench.report.publish import publish
from rnnbench.report.text import render_csv, render_markdown
from rnnbench.results.schema import migrate
from rnnbench.results.store import ENVIRONMENT_FILE, RECORDS_FILE, RUN_FILE, RecordWriter, write_json_file

RUN, SWEEP = GOLDEN / "report-run", GOLDEN / "report-sweep"
ESCAPE = "\x1b]0;owned\x07\x1b[2J\x1b[1A"  # a window title, a cleared screen, the cursor up a line
BIDI = "\u202e"  # right-to-left override: shows "abc" + BIDI + "fed" as "abcdef"


def rnnbench(*args: str, stdout: int | io.TextIOWrapper = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNBENCH_")}
    return subprocess.run([sys.executable, "-m", "rnnbench", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=300, env=env, check=False)


def one_error_line(done: subprocess.CompletedProcess[str], *wanted: str) -> str:
    """The command failed in one line of standard error holding every one of ``wanted``; that line."""
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("rnnbench: error: ") and all(w in line for w in wanted), line
    return line


def write_run(golden: Path, folder: Path, edit: Callable[[dict], dict] | None = None) -> Path:
    """``golden`` rewritten by rnnbench's own writers (RecordWriter, write_json_file); ``edit`` changes records."""
    writer = RecordWriter(folder)
    for line in (golden / RECORDS_FILE).read_text().splitlines():
        record = migrate(json.loads(line))
        writer.append(edit(record) if edit else record)
    for name in (RUN_FILE, ENVIRONMENT_FILE):
        write_json_file(folder / name, json.loads((golden / name).read_text()))
    return folder


def damage_line(folder: Path, number: int, change: Callable[[dict], object]) -> None:
    """Change record ``number`` (1-based) of a run folder in place, as a hand edit or a foreign tool would."""
    path = folder / RECORDS_FILE
    lines = path.read_text().splitlines()
    record = json.loads(lines[number - 1])
    change(record)
    lines[number - 1] = json.dumps(record)  # allow_nan: Infinity and NaN as Python's json writes them
    path.write_text("".join(f"{line}\n" for line in lines))


def first_timed_line(folder: Path) -> int:
    lines = (folder / RECORDS_FILE).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if json.loads(line)["mode"] == "throughput")


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    return write_run(RUN, tmp_path / "run")


def site_files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


# ---- 3. one bad record ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("median", [float("inf"), 0, -0.01, float("nan")])
def test_an_impossible_median_is_left_out_named_and_never_shown_as_throughput(run_folder, median):
    number = first_timed_line(run_folder)
    damage_line(run_folder, number, lambda r: r["throughput"]["train"]["summary"].update(median=median))
    wanted = f"{run_folder / RECORDS_FILE}:{number}: throughput.train.summary.median is {median!r}. Accepted: "
    for fmt in ("markdown", "csv", "html"):
        done = rnnbench("report", "--format", fmt, str(run_folder), "-o", str(run_folder / f"r.{fmt}"))
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.splitlines() == [f"rnnbench: skipped {wanted}seconds per call, a finite number > 0"]
    markdown = (run_folder / "r.markdown").read_text()
    assert "- Left out, unreadable: " in markdown and f"records.jsonl:{number}: throughput.train.summary" in markdown
    assert "Left out, unreadable: " in (run_folder / "r.html").read_text()
    frame = pd.read_csv(run_folder / "r.csv")
    assert len(frame) == 6 and (frame.train_sps.dropna() > 0).all() and frame.train_sps.notna().sum() == 5
    assert frame.train_sps.map(lambda v: v == float("inf")).sum() == 0


@pytest.mark.parametrize(("damage", "says"), [
    (lambda block: block.update(p99_s=float("inf")), "latency.whole.p99_s is inf. Accepted: seconds per call"),
    (lambda block: block.update(p99_s=0), "latency.whole.p99_s is 0. Accepted: seconds per call"),
    (lambda block: block.update(samples_s="fast"), "latency.whole is {"),
])
def test_an_impossible_latency_is_left_out_named_and_the_other_processes_still_answer(tmp_path, damage, says):
    folder = write_run(GOLDEN / "report-latency", tmp_path / "run")
    damage_line(folder, 1, lambda r: damage(r["latency"]["whole"]))
    skipped = load_report_data(folder).skipped
    assert len(skipped) == 1 and f"{RECORDS_FILE}:1: {says}" in skipped[0], skipped
    assert "## Where to deploy it" in render_markdown(load_report_data(folder))


def test_a_record_without_a_machine_is_reported_as_an_unknown_machine(tmp_path):
    folder = write_run(RUN, tmp_path / "run", lambda r: {k: v for k, v in r.items() if k != "machine"}
                       if r["cell"] == "gru" else r)
    done = rnnbench("report", str(folder))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "unknown machine" in (folder / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
def test_a_corrupt_run_json_is_named_and_the_records_still_reported_and_published(run_folder, tmp_path, content):
    (run_folder / RUN_FILE).write_text(content)
    done = rnnbench("report", str(run_folder))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"rnnbench: skipped {run_folder / RUN_FILE} ") and "start is taken from its records" in line
    assert "18 records from 1 run" in (run_folder / "report.html").read_text()
    published = rnnbench("publish", str(run_folder), "--site", str(tmp_path / "site"))
    assert published.returncode == 0 and published.stderr.splitlines() == [line], published.stderr
    assert len(list((tmp_path / "site" / "reports").glob("*.html"))) == 1


def test_a_stray_benchmark_like_file_is_left_out_of_its_folder_and_a_bad_benchmark_of_its_file(tmp_path):
    results = tmp_path / "results"
    write_run(RUN, results / "run")
    stray = results / "notes.json"  # the three keys of a pytest-benchmark file, none of its content
    stray.write_text(json.dumps({"machine_info": {}, "benchmarks": [{"extra_info": {"rnnbench": 1}}],
                                 "datetime": "yesterday"}))
    bench = json.loads((GOLDEN / "bench" / "micro.json").read_text())
    del bench["benchmarks"][0]["stats"]
    (results / "micro.json").write_text(json.dumps(bench))
    done = rnnbench("report", "--format", "csv", str(results))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    notes = done.stderr.splitlines()
    assert len(notes) == 2 and all(n.startswith("rnnbench: skipped ") for n in notes), notes
    assert any(f"{stray}: datetime 'yesterday' is not valid" in n and "(the run is left out)" in n for n in notes)
    assert any(f"{results / 'micro.json'}: benchmark 1 " in n for n in notes)
    frame = pd.read_csv(io.StringIO(done.stdout))
    assert set(frame.task) == {"airline", "micro"} and (frame.task == "micro").sum() == 2  # micro's 3 good ones


def test_a_wholly_unreadable_input_is_one_line_and_exit_1(tmp_path):
    folder = write_run(RUN, tmp_path / "run")
    for number in range(1, 19):
        damage_line(folder, number, lambda r: r.update(machine=["not", "a", "name"]))
    done = rnnbench("report", str(folder))
    one_error_line(done, "no result record in", "records.jsonl:1: machine is", "Accepted: a string", "(17 more")
    assert done.returncode == 1 and not (folder / "report.html").exists()
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps({"machine_info": {}, "benchmarks": [], "datetime": "x"}))
    one_error_line(rnnbench("report", str(stray)), f"{stray}: datetime 'x' is not valid")
    assert not (tmp_path / "stray.html").exists()


# ---- 12. publish: a taken id, an empty input ------------------------------------------------------------


@pytest.mark.slow
def test_publish_refuses_a_different_run_with_a_taken_id_and_writes_nothing(tmp_path):
    site = tmp_path / "site"
    first = write_run(RUN, tmp_path / "first")
    assert rnnbench("publish", str(first), "--site", str(site)).returncode == 0
    before = site_files(site)
    run_id = json.loads((first / RECORDS_FILE).read_text().splitlines()[0])["run_id"]
    other = write_run(SWEEP, tmp_path / "other", lambda r: r | {"run_id": run_id})  # another run, the same id
    one_error_line(rnnbench("publish", str(other), "--site", str(site)), f"already publishes run {run_id!r}",
                   "is a different run", "with the same id")
    assert site_files(site) == before
    again = rnnbench("publish", str(first), "--site", str(site))  # the same run again: replaced
    assert again.returncode == 0 and again.stderr == "", again.stderr


def test_publish_refuses_two_runs_whose_ids_share_a_report_file_and_a_site_it_did_not_write(tmp_path):
    site = tmp_path / "site"
    publish([write_run(RUN, tmp_path / "slash", lambda r: r | {"run_id": "a/b"})], site)
    before = site_files(site)
    underscore = write_run(SWEEP, tmp_path / "underscore", lambda r: r | {"run_id": "a_b"})  # also reports/a_b.html
    with pytest.raises(UsageError, match="already publishes run 'a/b' .* with the same report file reports/a_b.html"):
        publish([underscore], site)
    assert site_files(site) == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "index.html").write_text("<p>my own page</p>")
    with pytest.raises(UsageError, match="holds an index.html but no runs.json"):
        publish([RUN], foreign)
    assert site_files(foreign) == {"index.html": b"<p>my own page</p>"}


def test_publish_refuses_an_input_without_runs_and_creates_no_site(tmp_path):
    (tmp_path / "empty").mkdir()
    one_error_line(rnnbench("publish", str(tmp_path / "empty"), "--site", str(tmp_path / "site")),
                   "nothing to publish in")
    assert not (tmp_path / "site").exists()


# ---- 8. filesystem faults of report and publish ---------------------------------------------------------


def mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a full or read-only disk needs a tmpfs, which only root can mount (CI runs as root)")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    mount_tmpfs(where, size)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 KiB file system: room for a small file, not for a report (about 150 KiB)."""
    with tmpfs(tmp_path / "tiny", "48k") as where:
        yield where


@pytest.fixture
def roomy_disk(tmp_path: Path) -> Iterator[Path]:
    """A file system of its own, to be remounted read-only: as root, chmod stops no write, a mount does."""
    with tmpfs(tmp_path / "disk", "8m") as where:
        yield where


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_publish_onto_a_full_disk_is_one_line_and_leaves_no_cut_file(tiny_disk):
    site = tiny_disk / "site"
    one_error_line(rnnbench("publish", str(RUN), "--site", str(site)), "cannot write ", "No space left on device")
    assert no_temporary_files(tiny_disk)
    assert all(text.endswith(b"</html>\n") for name, text in site_files(site).items() if name.endswith(".html"))


@pytest.mark.slow
def test_publish_onto_a_read_only_site_is_one_line_and_changes_nothing(roomy_disk, tmp_path):
    site = roomy_disk / "site"
    assert rnnbench("publish", str(RUN), "--site", str(site)).returncode == 0
    before = site_files(site)
    subprocess.run(["mount", "-o", "remount,ro", str(roomy_disk)], check=True)
    one_error_line(rnnbench("publish", str(SWEEP), "--site", str(site)), "Read-only file system")
    assert site_files(site) == before


def test_publish_where_reports_is_a_file_is_one_line(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "reports").write_text("not a folder")
    one_error_line(rnnbench("publish", str(RUN), "--site", str(site)), f"{site / 'reports'}: File exists")
    assert site_files(site) == {"reports": b"not a folder"}


def test_a_report_onto_a_full_disk_keeps_the_file_it_replaces(tiny_disk):
    old = tiny_disk / "report.html"
    old.write_text("the report of yesterday\n")
    one_error_line(rnnbench("report", str(RUN), "-o", str(old)), f"cannot write the report to {old}: No space")
    assert old.read_text() == "the report of yesterday\n" and no_temporary_files(tiny_disk)


@pytest.mark.slow
def test_a_report_to_dev_full_is_one_line_and_dev_null_stays_a_device(tmp_path):
    one_error_line(rnnbench("report", "--format", "csv", str(RUN), "-o", "/dev/full"), "/dev/full: No space")
    with open("/dev/full", "w") as full:  # standard output itself on a full device
        one_error_line(rnnbench("report", "--format", "markdown", str(RUN), stdout=full),
                       "cannot write the report to standard output: No space left on device")
    done = rnnbench("report", "--format", "csv", str(RUN), "-o", "/dev/null")
    assert done.returncode == 0 and Path("/dev/null").is_char_device()


# ---- 10. control characters from a plugin or a record ---------------------------------------------------


def test_control_characters_from_records_are_escaped_in_every_format(tmp_path):
    def hostile(record: dict) -> dict:
        if record["backend"] != "torch":
            return record
        runtime = record.get("runtime") or {}
        return record | {"status": "failed", "error": f"boom{ESCAPE}forged line\nrnnbench: all ok",
                         "runtime": runtime | {"kernel_path": f"abc{BIDI}fed"}, "machine": f"vm{ESCAPE}"}

    folder = write_run(RUN, tmp_path / "run", hostile)
    data = load_report_data(folder)
    html = rnnbench("report", str(folder), "-o", str(tmp_path / "r.html"))
    assert html.returncode == 0, html.stderr
    for text in (render_markdown(data), render_csv(data), (tmp_path / "r.html").read_text()):
        assert not any(c in text for c in ("\x1b", "\x07", BIDI)), repr(text[:200])
        shown = text.replace("\\\\", "\\")  # Markdown doubles a backslash
        assert all(escaped in shown for escaped in ("\\x1b", "owned\\x07", "\\u202e")), repr(text[:200])
    assert "forged line\\\\nrnnbench: all ok" in render_markdown(data)  # the line break too: no forged line


# ---- 11. a seed sweep -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of one case over seeds 0, 1 and 2 (about 3 s)."""
    from rnnbench.manager.options import RunOptions
    from rnnbench.manager.runner import run

    options = RunOptions(backends=("numpy",), tasks=("airline",), cells=("lstm",), modes=("throughput",),
                         profile="smoke", threads=1, check=False, seeds=(0, 1, 2))
    return run(options, tmp_path_factory.mktemp("sweep"), quiet=True).run_dir


@pytest.mark.slow
def test_a_seed_sweep_shows_its_seeds_in_every_report_format(seed_sweep, tmp_path):
    outputs = {fmt: tmp_path / f"r.{fmt}" for fmt in ("html", "markdown", "csv")}
    for fmt, path in outputs.items():
        assert rnnbench("report", "--format", fmt, str(seed_sweep), "-o", str(path)).returncode == 0
    html = outputs["html"].read_text()
    assert "<th>seeds</th>" in html and "<td>0-2 (3 seeds)</td>" in html
    lines = outputs["markdown"].read_text().splitlines()
    assert lines[lines.index("## Runs") + 2].startswith("| run | machine | started | profile | seeds |")
    assert [line for line in lines if "| 0-2 (3 seeds) | 3 | 0 |" in line]  # the run's row: seeds, records, not ok
    [row] = pd.read_csv(outputs["csv"]).itertuples()
    assert (row.seed_count, row.seed_min, row.seed_max) == (3, 0, 2)
