"""Faults a run must survive without losing or mislabelling a result: real processes, signals and files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from terminal import hears_ctrl_c

from rnnbench.errors import ResultsWriteError, UsageError
from rnnbench.manager import rundir
from rnnbench.manager.options import RunOptions
from rnnbench.manager.process import SCRATCH_PREFIX, remove_stale_scratch
from rnnbench.manager.runner import run
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import RECORDS_FILE, RecordWriter, finished_case_ids, read_records

SMALL = dict(backends=("numpy",), tasks=("airline",), cells=("all",), modes=("throughput",), profile="smoke",
             threads=1, check=False)


def rnnbench_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnnbench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One real run of three cases, copied by the tests that damage it."""
    return run(RunOptions(**SMALL), tmp_path_factory.mktemp("runs"), quiet=True).run_dir


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock"))
    return target


# ---- 1. a torn last line ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_torn_tail_at_any_byte_is_cut_off_before_the_next_append(finished_run, tmp_path):
    data = (finished_run / RECORDS_FILE).read_bytes()
    lines = data.splitlines(keepends=True)
    intact, last = b"".join(lines[:-1]), lines[-1]
    ids = [json.loads(line)["case_id"] for line in lines]
    for cut in range(1, len(last)):  # every byte offset inside the last record (len(last) is whole)
        folder = tmp_path / f"cut{cut}"
        folder.mkdir()
        (folder / RECORDS_FILE).write_bytes(intact + last[:cut])
        writer = RecordWriter(folder)
        assert writer.repaired is not None and f"its {cut} bytes were moved" in writer.repaired
        assert finished_case_ids(folder) == set(ids[:-1])
        writer.append(json.loads(last))  # what the resumed case writes
        assert [r["case_id"] for r in read_records(folder)] == ids
        assert (folder / f"{RECORDS_FILE}.torn-1").read_bytes() == last[:cut]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["first byte", "middle", "last byte"])
def test_resume_after_a_torn_tail_runs_the_torn_case_once(finished_run, tmp_path, where):
    folder = copy_run(finished_run, tmp_path / "run")
    data = (folder / RECORDS_FILE).read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    cut = {"first byte": last_start + 1, "middle": (last_start + len(data)) // 2, "last byte": len(data) - 1}[where]
    (folder / RECORDS_FILE).write_bytes(data[:cut])
    for _ in range(2):  # resuming twice must not duplicate or hide anything
        done = rnnbench_cli("run", "--resume", str(folder), "--quiet")
        assert done.returncode == 0, done.stderr
    ids = [r["case_id"] for r in read_records(folder)]
    assert sorted(ids) == sorted(r["case_id"] for r in read_records(finished_run)) and len(set(ids)) == 3


# ---- 2. a full disk -------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path) -> Path:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a full disk needs a tiny tmpfs, which only root can mount (CI runs as root)")
    where = tmp_path / "tiny"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_leaves_whole_records_and_the_resume_line(tiny_disk):
    folder = tiny_disk / "run"
    writer = RecordWriter(folder)
    record = json.loads(json.dumps({"schema": 3, "run_id": "r", "case_id": "c0", "case_key": "c", "workload": "w",
                                    "data": "real", "backend": "numpy", "task": "t", "cell": "rnn",
                                    "device": "cpu", "mode": "throughput", "config": {}, "status": "ok",
                                    "duration_s": 1.0, "padding": "x" * 3000}))
    written = 0
    with pytest.raises(ResultsWriteError, match="could not write a record to .*No space left on device"):
        for i in range(100):
            writer.append(record | {"case_id": f"c{i}"})
            written += 1
    assert 0 < written < 100
    assert (folder / RECORDS_FILE).read_bytes().endswith(b"\n")  # no torn line: the failed write was undone
    assert [r["case_id"] for r in read_records(folder)] == [f"c{i}" for i in range(written)]


@pytest.mark.slow
def test_a_run_on_a_full_disk_ends_in_one_line_with_the_resume_command(tiny_disk, tmp_path):
    done = rnnbench_cli("run", "--backend", "numpy", "--task", "airline", "--cell", "all", "--mode", "throughput",
                        "--profile", "smoke", "--threads", "1", "--no-check", "--quiet", "--results-dir",
                        str(tiny_disk))
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "rnnbench run --resume" in done.stderr and "No space left on device" in done.stderr
    [folder] = [p for p in tiny_disk.iterdir() if p.is_dir()]
    moved = copy_run(folder, tmp_path / "moved")  # resume where there is room
    resumed = rnnbench_cli("run", "--resume", str(moved), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert len({r["case_id"] for r in read_records(moved)}) == 3


# ---- 3, 4, 10. run ids and one writer per folder ---------------------------------------------------------


def test_run_ids_never_collide_and_resume_keeps_the_id_of_run_json(tmp_path):
    options = RunOptions(**SMALL)
    made = [rundir.create(tmp_path, options, "20261201-000000-host-abcd") for _ in range(3)]
    assert [run_id for _, run_id in made] == ["20261201-000000-host-abcd", "20261201-000000-host-abcd-2",
                                              "20261201-000000-host-abcd-3"]
    assert len({rundir.new_run_id() for _ in range(50)}) == 50  # the same second, 50 different ids
    folder, run_id = made[1]
    assert rundir.run_id_of(Path("."), rundir.read_run_file(folder)) == run_id  # not the folder name as typed


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path):
    folder, _ = rundir.create(tmp_path, RunOptions(**SMALL), rundir.new_run_id())
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from rnnbench.manager import rundir\n"
                               "with rundir.lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
                               str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=f"{folder} is being written by rnnbench pid {holder.pid}"):
            with rundir.lock(folder):
                pass
        done = rnnbench_cli("run", "--resume", str(folder))
        assert done.returncode == 2 and "is being written by" in done.stderr and "Traceback" not in done.stderr
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with rundir.lock(folder):  # released with its holder
        pass


# ---- 5. workers die with their manager ------------------------------------------------------------------


@pytest.fixture
def with_hanging_backend(install_fake_plugin) -> Registry:
    install_fake_plugin("misbehaving", "misbehaving")
    return Registry(make_plugin_manager())


def _worker_of(manager: psutil.Process, timeout_s: float = 120) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = [p for p in manager.children(recursive=True) if "rnnbench.worker" in " ".join(p.cmdline())]
        if workers:
            return workers[0]
        time.sleep(0.2)
    raise AssertionError("no worker started")


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_worker_dies_with_its_manager(with_hanging_backend, tmp_path, monkeypatch, how):
    # A temporary folder of its own: a run elsewhere (a parallel test) would clear the killed manager's scratch.
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    manager = subprocess.Popen([sys.executable, "-m", "rnnbench", "run", "--backend", "hangs", "--task", "airline",
                                "--cell", "rnn", "--mode", "throughput", "--profile", "smoke", "--threads", "1",
                                "--no-check", "--timeout", "300", "--results-dir", str(tmp_path / "results")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=os.environ | {"TMPDIR": str(scratch_root)})
    worker = _worker_of(psutil.Process(manager.pid))
    manager.send_signal(how)
    _, err = manager.communicate(timeout=60)
    worker.wait(timeout=30)  # raises psutil.TimeoutExpired if it outlived its manager
    assert not worker.is_running()
    stale = list(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}{manager.pid}-*"))
    if how == signal.SIGKILL:  # a killed manager cannot clean up; the next run does
        assert stale and remove_stale_scratch() and not any(folder.exists() for folder in stale)
    else:
        assert not stale
    if how == signal.SIGTERM:  # handled like Ctrl-C
        assert manager.returncode == 130 and "rnnbench run --resume" in err, err


# ---- 6, 7, 9. bad input: one line, exit 2, nothing written ----------------------------------------------


BAD_OPTIONS = [
    (["--batch-size", "0"], "batch_sizes=0 is not valid"),
    (["--seq-len", "0"], "seq_lens=0 is not valid"),
    (["--steps", "0"], "steps=0 is not valid"),
    (["--timeout", "nan"], "timeout_s=nan is not valid"),
    (["--timeout", "inf"], "timeout_s=inf is not valid"),
    (["--hidden-size", "0"], "hidden_sizes=0 is not valid"),
    (["--num-layers", "0"], "num_layers=0 is not valid"),
    (["--threads", "0"], "threads=0 is not valid"),
    (["--threads", "1000"], "threads=1000 is not valid"),
    (["--warmup", "0"], "warmup=0 is not valid"),
    (["--memory-limit-mb", "0"], "memory_limit_mb=0 is not valid"),
    (["--memory-limit-mb", "99999999999999"], "memory_limit_mb=99999999999999 is not valid"),
    (["--rounds", "100000000"], "rounds=100000000 is not valid"),
    (["--rounds", "0"], "rounds=0 is not valid"),
    (["--seed", "-1"], "seed=-1 is not valid"),
    (["--device", "tpu"], "device='tpu' is not valid"),
    (["--hidden-size", "16", "--hidden-size", "16"], "repeats a value"),
    (["--backend", "numpy,nosuch"], "Unknown backend 'nosuch'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_a_bad_option_is_one_line_and_exit_2_before_anything_is_written(cli, tmp_path, args, message):
    code, _, err = cli("run", "--results-dir", str(tmp_path / "results"), "--no-check", *args)
    assert code == 2 and message in err and ("Accepted" in err or "Available" in err), err
    assert err.count("\n") == 1 and not (tmp_path / "results").exists()


@pytest.mark.parametrize(("toml", "message"), [
    ('dtype = "float16"', "dtype='float16' is not valid. Accepted: float32, float64"),
    ("batch_sizes = [-1]", "batch_sizes=-1 is not valid"),
    ('timeout_s = "abc"', "timeout_s='abc' is not valid"),
    ('threads = "2"', "threads='2' is not valid"),
    ("backends = 3", "backends=3 is not valid"),
    ("[broken", "is not valid TOML"),
])
def test_a_bad_config_file_is_one_line(cli, tmp_path, toml, message):
    config = tmp_path / "run.toml"
    config.write_text(toml + "\n")
    code, _, err = cli("run", "--config", str(config), "--results-dir", str(tmp_path / "results"))
    assert code == 2 and message in err, err
    assert not (tmp_path / "results").exists()


def test_a_config_file_that_is_not_utf8_is_one_line(cli, tmp_path):
    config = tmp_path / "run.toml"
    config.write_bytes(b'dtype = "\xff"\n')
    code, _, err = cli("run", "--config", str(config), "--results-dir", str(tmp_path / "results"))
    assert code == 2 and "is not UTF-8 text" in err


def test_a_device_no_backend_has_is_refused_listing_what_exists(cli, tmp_path):
    code, _, err = cli("run", "--backend", "numpy", "--device", "gpu", "--results-dir", str(tmp_path / "r"))
    assert code == 2 and "No selected backend has a GPU here. Available: numpy: cpu" in err, err
    assert not (tmp_path / "r").exists()


def test_a_comma_list_of_backends_is_a_list(tmp_path):
    assert RunOptions(backends=("numpy,torch",)).backends == ("numpy", "torch")
    assert RunOptions(backends="numpy, torch").backends == ("numpy", "torch")  # as a TOML string


def test_a_broken_pyproject_that_rnnbench_would_not_read_breaks_nothing(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'not toml'\n")
    done = rnnbench_cli("run", "--backend", "nosuch", cwd=tmp_path)
    assert done.returncode == 2 and "Unknown backend 'nosuch'" in done.stderr  # got past the config
    (tmp_path / "pyproject.toml").write_text("[tool.rnnbench\nbackends = ['numpy']\n")
    done = rnnbench_cli("run", cwd=tmp_path)
    assert done.returncode == 2 and "is not valid TOML" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["run", "tune"])
def test_pyproject_configures_run_and_tune_however_its_table_is_written(tmp_path, command):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n[tool]\nrnnbench = { backends = ["nosuch"] }\n')
    done = rnnbench_cli(command, "--results-dir", str(tmp_path / "results"), cwd=tmp_path)
    assert done.returncode == 2 and "Unknown backend 'nosuch'" in done.stderr, done.stderr  # the table was read
    config = tmp_path / "other.toml"
    config.write_text("profile = 'huge'\n")
    done = rnnbench_cli(command, "--config", str(config), "--results-dir", str(tmp_path / "results"), cwd=tmp_path)
    assert done.returncode == 2 and "profile='huge' is not valid" in done.stderr, done.stderr
    assert not (tmp_path / "results").exists()


def test_a_run_folder_that_cannot_be_locked_is_one_line_not_a_traceback(cli, finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path / "run")
    (run_dir / ".lock").mkdir()  # the lock file cannot be opened for writing, as on a read-only mount
    before = (run_dir / RECORDS_FILE).read_bytes()
    code, _, err = cli("run", "--resume", str(run_dir))
    assert code == 2 and f"rnnbench: error: cannot lock {run_dir} to write it: Is a directory" in err, err
    assert err.count("\n") == 1 and (run_dir / RECORDS_FILE).read_bytes() == before


def test_resume_refuses_options_that_would_change_the_run(cli, finished_run):
    code, _, err = cli("run", "--resume", str(finished_run), "--backend", "nosuch", "--steps", "7")
    assert code == 2 and "--backend, --steps would change it" in err


def test_a_results_folder_that_is_a_file_is_one_line(cli, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = cli("run", "--backend", "numpy", "--task", "airline", "--cell", "rnn", "--profile", "smoke",
                       "--no-check", "--results-dir", str(tmp_path / "file"))
    assert code == 2 and "is a file" in err


def test_a_corrupt_run_json_is_one_line_on_resume(cli, finished_run, tmp_path):
    folder = copy_run(finished_run, tmp_path / "run")
    (folder / "run.json").write_text("{not json")
    code, _, err = cli("run", "--resume", str(folder))
    assert code == 2 and "cannot be read as a run file" in err


def test_a_corrupt_conformance_file_is_one_line_on_resume_naming_the_fix(cli, finished_run, tmp_path):
    folder = copy_run(finished_run, tmp_path / "run")
    (folder / "conformance.json").write_text("[1, 2")
    code, _, err = cli("run", "--resume", str(folder))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "conformance.json cannot be read" in err and "delete it and the resumed run checks conformance again" in err


# ---- 8. Ctrl-C before the first case -----------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_during_the_pre_check_prints_the_resume_line_and_resume_finishes(with_hanging_backend, tmp_path):
    results = tmp_path / "results"  # tmp_path also holds the fake plugin's distribution
    manager = subprocess.Popen([sys.executable, "-m", "rnnbench", "run", "--backend", "hangs", "--backend", "numpy",
                                "--task", "airline", "--cell", "rnn", "--mode", "throughput", "--profile", "smoke",
                                "--threads", "1", "--timeout", "8", "--results-dir", str(results)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=hears_ctrl_c)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(results.glob("*/environment.json")):
        time.sleep(0.2)
    time.sleep(1.0)  # inside the conformance check, before any case
    manager.send_signal(signal.SIGINT)
    _, err = manager.communicate(timeout=60)
    [folder] = list(results.iterdir())
    assert manager.returncode == 130 and f"rnnbench run --resume {folder}" in err, err
    assert (folder / "environment.json").is_file()
    resumed = rnnbench_cli("run", "--resume", str(folder), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert {r["backend"]: r["status"] for r in read_records(folder)} == {"hangs": "timeout", "numpy": "ok"}


def test_report_renders_every_intact_record_and_names_the_lines_it_skipped(cli, finished_run, tmp_path):
    folder = copy_run(finished_run, tmp_path / "run")
    lines = (folder / RECORDS_FILE).read_text().splitlines()
    (folder / RECORDS_FILE).write_text("\n".join([lines[0], "[1, 2]", "null", "{broken", *lines[1:]]) + "\n")
    (folder / "environment.json").write_text("{not json")
    code, out, err = cli("report", str(folder), "--format", "markdown")
    assert code == 0, err
    assert f"{RECORDS_FILE}:2: a record is list" in err and f"{RECORDS_FILE}:3: a record is NoneType" in err
    assert f"{RECORDS_FILE}:4: not JSON" in err and "environment.json cannot be read" in err
    assert all(cell in out for cell in ("rnn", "lstm", "gru"))  # the three intact records
    code, _, err = cli("report", str(folder), "-o", str(tmp_path / "missing" / "r.html"))
    assert code == 2 and "cannot write the report to" in err and "Traceback" not in err


@pytest.mark.slow
def test_resume_over_a_corrupt_environment_measures_it_again(finished_run, tmp_path):
    folder = copy_run(finished_run, tmp_path / "run")
    (folder / "environment.json").write_text("{not json")
    done = rnnbench_cli("run", "--resume", str(folder))
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "environment.json cannot be read" in said and "measured this machine again" in said
    assert json.loads((folder / "environment.json").read_text())["machine"]


# ---- 11. a shared cache, a flooding worker -----------------------------------------------------------------


def test_a_derived_cache_file_is_readable_by_the_users_the_umask_allows(tmp_path):
    import numpy as np

    from rnnbench.data import derived

    mask = os.umask(0o022)
    try:
        assert derived.save(tmp_path / "entry.npz", {"a": np.zeros(2)})
    finally:
        os.umask(mask)
    assert (tmp_path / "entry.npz").stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.glob("*.tmp"))


def test_the_output_tail_is_read_with_bounded_memory(tmp_path):
    from rnnbench.manager.process import TAIL_CHARS, read_tail, run_process

    flood = [sys.executable, "-c", "import sys\nfor i in range(200_000): sys.stdout.write('x' * 99 + '\\n')\n"
             "sys.stdout.write('the end\\n')"]
    ended = run_process(flood, timeout_s=60, threads=1, log_path=tmp_path / "out.log")
    assert ended.returncode == 0 and ended.output_tail.endswith("the end\n")
    assert len(ended.output_tail) == TAIL_CHARS  # of a 20 MB output
    assert read_tail(tmp_path / "out.log", 8) == "the end\n"
