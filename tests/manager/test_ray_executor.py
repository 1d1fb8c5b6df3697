"""The Ray executor on a real local Ray cluster (2 CPUs): the local executor's records, failures kept apart.

The cluster starts once for the module, after the misbehaving test plugin is
installed, so Ray's worker processes (and the rnnbench workers they start)
inherit the PYTHONPATH that finds it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from paths import PLUGIN_DIR
from terminal import ctrl_c_raises

from rnnbench.case import Case
from rnnbench.cli import main
from rnnbench.errors import UsageError
from rnnbench.manager.executors.ray_cluster import (
    LOST_MACHINE,
    REACH_TIMEOUT_S,
    check_fits,
    check_reachable,
    resources,
)
from rnnbench.manager.executors.ray_node import node_environment, node_turn, own_cpus
from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import Interrupted, run
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.results.store import MACHINES_DIR, RECORDS_FILE, read_environment, read_environments, read_records

# Ray starts its processes with subprocess and a preexec_fn (ray/_private/services.py), which runs the fork hooks;
# when an earlier test module has imported JAX, JAX's hook warns that forking a multithreaded process may deadlock.
# Those children run Ray's preexec_fn and exec Ray's own programs; they never use JAX, so the warning does not apply.


# The conformance pre-check runs on the manager's machine whatever the executor, and has its own tests
# (test_precheck.py); here it would only add a hanging backend's check to every run.
SMALL = dict(tasks=("airline",), modes=("throughput",), profile="smoke", threads=1, check=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a 2-CPU local Ray cluster whose processes can import tests/plugins/misbehaving."""
    ray = pytest.importorskip("ray")
    site = tmp_path_factory.mktemp("site")
    info = site / "fake_plugin-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[rnnbench]\nmisbehaving = misbehaving\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(PLUGIN_DIR))
        patch.syspath_prepend(str(site))
        inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        patch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(PLUGIN_DIR), *inherited]))
        # "local": a new cluster of its own, even where `ray start` left one (or the note of one) behind.
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()


@pytest.fixture
def registry_with_faults(cluster: str) -> Registry:
    return Registry(make_plugin_manager())


def _by_case(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {record["case_id"]: record for record in read_records(run_dir)}


def _fields(value: Any, prefix: str = "") -> set[str]:
    """Every key path of nested dicts: the record's shape, without its values."""
    if not isinstance(value, dict):
        return set()
    return {f"{prefix}{key}" for key in value} | {
        path for key, inner in value.items() for path in _fields(inner, f"{prefix}{key}.")}


def _learning(record: dict[str, Any]) -> list[Any]:
    accuracy = record["accuracy"]
    return [accuracy["final_metrics"]] + [(p["step"], p["train_loss"], p["metrics"]) for p in accuracy["curve"]]


@pytest.mark.slow
def test_ray_records_match_the_local_executors(registry_with_faults, tmp_path):
    options = RunOptions(backends=("numpy", "torch"), cells=("gru",), steps=15,
                         **{**SMALL, "modes": ("throughput", "accuracy")})
    local = _by_case(run(options, tmp_path / "local", registry=registry_with_faults, quiet=True).run_dir)
    ray_run = run(dataclasses.replace(options, executor="ray"), tmp_path / "ray", registry=registry_with_faults,
                  quiet=True)
    remote = _by_case(ray_run.run_dir)
    here = read_environment(ray_run.run_dir)["machine"]  # the manager's machine, the only node of this cluster
    [node_file] = (ray_run.run_dir / MACHINES_DIR).glob("*.json")
    assert json.loads(node_file.read_text())["machine"] == here
    assert sorted(remote) == sorted(local) and len(local) == 4
    for case_id, mine in local.items():
        theirs = remote[case_id]
        assert _fields(theirs) == _fields(mine), case_id
        assert theirs["status"] == mine["status"] == "ok", case_id
        assert theirs["machine"] == mine["machine"] == here
        assert theirs["shared_node"] is mine["shared_node"] is False  # Ray's default: one case at a time per node
        for key in ("config", "spec", "optimizer", "flops", "items", "batch", "versions"):
            assert theirs[key] == mine[key], key
        if mine["mode"] == "accuracy":
            assert _learning(theirs) == _learning(mine)  # same weights, data order and steps: exact
        else:
            # Same protocol on both executors: as many timed samples of the same work. Their times are the
            # shared machine's business, not this test's (a timing ratio here made CI flaky).
            for phase in ("train", "infer"):
                mine_phase, theirs_phase = mine["throughput"][phase], theirs["throughput"][phase]
                assert len(theirs_phase["samples_s"]) == len(mine_phase["samples_s"]) == 15, (case_id, phase)
                assert theirs_phase.keys() == mine_phase.keys(), (case_id, phase)
                assert all(t > 0 for t in theirs_phase["samples_s"]), (case_id, phase)
    affinities = {r["runtime"]["settings"]["cpu_affinity"] for r in remote.values()}
    assert affinities <= {"0", "1"}  # each case on its own core of the node, never more than one


@pytest.mark.slow
def test_crash_and_timeout_under_ray_are_recorded_and_the_run_goes_on(registry_with_faults, tmp_path):
    options = RunOptions(backends=("aborts", "hangs", "numpy"), cells=("rnn",), timeout_s=8.0, executor="ray",
                         **SMALL)
    report = run(options, tmp_path, registry=registry_with_faults, quiet=True)
    by_backend = {r["backend"]: r for r in read_records(report.run_dir)}
    assert {b: r["status"] for b, r in by_backend.items()} == {"aborts": "crashed", "hangs": "timeout", "numpy": "ok"}
    assert "SIGABRT" in by_backend["aborts"]["error"]
    assert "8 s timeout" in by_backend["hangs"]["error"]
    assert "rnnbench.worker" in by_backend["aborts"]["command"]
    numpy = by_backend["numpy"]
    [node_file] = (report.run_dir / MACHINES_DIR).glob("*.json")
    node = json.loads(node_file.read_text())
    assert read_environments(report.run_dir)[numpy["machine"]] == node
    train = numpy["throughput"]["train"]
    assert train["peak_fraction"] == pytest.approx(train["gflops"] / node["matmul_peak_gflops"]["best"])


def _hanging_workers(count: int) -> list[psutil.Process]:
    """The ``count`` rnnbench workers of the 'hangs' backend under this test process (and its Ray cluster), or []."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            argv = process.cmdline()
            if "rnnbench.worker" in argv and json.loads(Path(argv[-2]).read_text())["backend"] == "hangs":
                found.append(process)
        except (psutil.Error, OSError, ValueError):
            continue
    return found if len(found) == count else []


def _wait_for(check: Any, what: str, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout_s} s")


def _interrupt_when(check: Any) -> threading.Thread:
    """Ctrl-C for this process (KeyboardInterrupt in the main thread) as soon as ``check()`` holds."""
    def watch() -> None:
        _wait_for(check, "the moment to interrupt")
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_ctrl_c_cancels_ray_tasks_keeps_records_and_resume_finishes(cluster, registry_with_faults, tmp_path):
    # In-process, so the Ray connection outlives the interrupt: only the executor's cancel can stop the tasks.
    # Sharing the node, so both 'hangs' cases run at once: the cancel stops every running task, not only one.
    options = RunOptions(backends=("numpy", "hangs"), cells=("rnn", "gru"), timeout_s=20.0, executor="ray",
                         ray_address=cluster, ray_share_nodes=True, **SMALL)
    hanging: list[psutil.Process] = []
    with ctrl_c_raises(), pytest.raises(Interrupted, match=r"finish the rest with: rnnbench run --resume ") as \
            interrupted:
        watcher = _interrupt_when(lambda: hanging.extend(_hanging_workers(count=2)) or hanging)
        run(options, tmp_path, registry=registry_with_faults, quiet=True)
    watcher.join()
    [run_dir] = list(tmp_path.iterdir())
    assert f"--resume {run_dir}" in str(interrupted.value)
    _, alive = psutil.wait_procs(hanging, timeout=5)  # their own 20 s timeout would kill them much later
    assert not alive
    # The schedule's random order may start both 'hangs' cases before numpy's: then nothing finished yet.
    kept = list(read_records(run_dir)) if (run_dir / RECORDS_FILE).is_file() else []
    assert all(r["backend"] == "numpy" and r["status"] == "ok" and r["shared_node"] for r in kept)
    resumed = subprocess.run([sys.executable, "-m", "rnnbench", "run", "--resume", str(run_dir), "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted((r["backend"], r["cell"], r["status"]) for r in read_records(run_dir)) == [
        ("hangs", "gru", "timeout"), ("hangs", "rnn", "timeout"), ("numpy", "gru", "ok"), ("numpy", "rnn", "ok")]


@pytest.mark.slow
def test_sigterm_under_ray_ends_the_run_as_ctrl_c_does(cluster, tmp_path):
    # A real manager process: Ray's driver installs its own SIGTERM handler (a stack dump, exit 1) at ray.init.
    manager = subprocess.Popen([sys.executable, "-m", "rnnbench", "run", "--executor", "ray", "--ray-address", cluster,
                                "--backend", "hangs", "--task", "airline", "--cell", "rnn", "--profile", "smoke",
                                "--mode", "throughput", "--threads", "1", "--no-check", "--timeout", "60", "--quiet",
                                "--results-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        _wait_for(lambda: _hanging_workers(count=1), "hanging worker")
        manager.send_signal(signal.SIGTERM)
        _, err = manager.communicate(timeout=60)
    finally:
        manager.kill()
    assert manager.returncode == 130 and "finish the rest with: rnnbench run --resume" in err, err
    assert "Traceback" not in err and "Stack" not in err


def _lose_a_ray_task() -> bool:
    """Kill the Ray worker process running a 'hangs' case, as a node that dies would, and the orphaned worker."""
    [worker] = _hanging_workers(count=1) or [None]
    if worker is None or not worker.parent().name().startswith("ray::"):
        return False
    worker.parent().kill()
    worker.kill()  # its timeout died with the Ray task
    return True


@pytest.mark.slow
def test_a_lost_ray_task_is_recorded_as_lost_on_an_unknown_machine(cluster, registry_with_faults, tmp_path):
    options = RunOptions(backends=("hangs",), cells=("rnn",), timeout_s=60.0, executor="ray", ray_address=cluster,
                         **SMALL)
    killer = threading.Thread(target=_wait_for, args=(_lose_a_ray_task, "'hangs' worker in a Ray task", 120.0),
                              daemon=True)
    killer.start()
    report = run(options, tmp_path, registry=registry_with_faults, quiet=True)
    killer.join(timeout=5)  # it has killed the task, or the case timed out and the asserts below say so
    [record] = read_records(report.run_dir)  # written, so it validated
    assert (record["status"], record["machine"]) == ("lost", LOST_MACHINE)
    assert record["error"].startswith("the Ray task was lost: ")
    assert record["duration_s"] > 0  # the manager saw its worker start
    assert not (report.run_dir / MACHINES_DIR).exists()  # a label, not a machine: no environment to save


@pytest.mark.slow
def test_a_case_no_node_can_take_is_refused_before_the_run_starts(registry_with_faults, tmp_path):
    options = RunOptions(backends=("numpy",), cells=("rnn",), executor="ray", **{**SMALL, "threads": 3})
    with pytest.raises(UsageError, match=r"needs 3 CPUs and 0 GPU on one node.*largest: 2 CPUs"):
        run(options, tmp_path, registry=registry_with_faults, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_executor_ray_without_ray_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray looks like to find_spec
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--executor", "ray", "--backend", "numpy", "--task", "airline", "--profile", "smoke",
              "--results-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and 'pip install "rnnbench[ray]"' in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("given", "message"), [
    (["--ray-address", "10.0.0.1:6379"], "ray_address='10.0.0.1:6379' needs executor 'ray'"),
    (["--ray-share-nodes"], "ray_share_nodes=True needs executor 'ray'")])
def test_ray_options_without_the_ray_executor_are_refused(tmp_path, capsys, given, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *given, "--backend", "numpy", "--results-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_rnnbench_and_its_ray_executor_module_import_no_ray():
    code = ("import sys, rnnbench, rnnbench.cli, rnnbench.manager.runner, rnnbench.manager.executors.ray_cluster; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


# Another Ray worker process of the node: all the node's CPUs (argv[1]) usable, one case to place.
CLAIM_ONE_CPU = ("import json, os, sys; from rnnbench.manager.executors.ray_node import own_cpus\n"
                 "os.sched_setaffinity(0, json.loads(sys.argv[1]))\n"
                 "with own_cpus(1) as cpus: print(json.dumps([cpus, sorted(os.sched_getaffinity(0))]))")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 usable CPUs")
def test_concurrent_cases_on_a_node_get_different_cpus(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the lock files, apart from any real run's
    before = os.sched_getaffinity(0)
    with own_cpus(1) as mine:
        assert sorted(os.sched_getaffinity(0)) == mine
        command = [sys.executable, "-c", CLAIM_ONE_CPU, json.dumps(sorted(before))]
        other = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True,
                               env=os.environ | {"TMPDIR": str(tmp_path)})
    theirs, pinned = json.loads(other.stdout)
    assert theirs == pinned and len(theirs) == 1 and theirs != mine
    assert os.sched_getaffinity(0) == before


# Another Ray task of the node: says when it asks for the node (argv[1]: "share" or "alone"), then when it has it.
TAKE_THE_NODE = ("import sys; from rnnbench.manager.executors.ray_node import node_turn\n"
                 "print('asking', flush=True)\n"
                 "with node_turn(sys.argv[1] == 'share'): print('got it', flush=True)")


@pytest.mark.slow
@pytest.mark.parametrize(("mine", "theirs", "they_wait"), [
    ("alone", "alone", True), ("alone", "share", True), ("share", "alone", True), ("share", "share", False)])
def test_a_case_has_its_node_to_itself_unless_both_share_it(tmp_path, monkeypatch, mine, theirs, they_wait):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the lock files, apart from any real run's
    command = [sys.executable, "-c", TAKE_THE_NODE, theirs]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                          env=os.environ | {"TMPDIR": str(tmp_path)}) as other:
        assert other.stdout is not None
        with node_turn(mine == "share"):
            assert other.stdout.readline() == "asking\n"
            try:
                other.wait(timeout=2.0)  # it needs milliseconds once it has the node
            except subprocess.TimeoutExpired:
                pass
            waited = other.poll() is None
        assert other.stdout.read() == "got it\n" and other.wait(timeout=60) == 0  # it got the node, after mine
    assert waited is they_wait


def test_the_node_environment_is_measured_once_per_run(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = node_environment("run-a", 1, [0, 1])
    assert node_environment("run-a", 1, [0, 1]) == first  # a new measurement would give another peak
    assert first["usable_cpus"] == [0, 1] and first["matmul_peak_gflops"]["best"] > 0


def test_node_environments_of_runs_older_than_a_week_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old, recent = (tmp_path / f"rnnbench-{os.getuid()}-env-{name}-t1.json" for name in ("old-run", "recent-run"))
    for path in (old, recent, old.with_suffix(".lock")):
        path.write_text("{}")
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(old, (week_ago, week_ago))
    os.utime(old.with_suffix(".lock"), (week_ago, week_ago))
    node_environment("run-b", 1, [0])
    assert not old.exists() and not old.with_suffix(".lock").exists()
    assert recent.exists()  # a run that may still resume keeps its node's environment


def test_a_gpu_case_is_refused_by_a_cluster_without_a_gpu():
    gpu_case = Case(backend="torch", task="airline", cell="rnn", device="cuda:0", mode="throughput", threads=1)
    assert resources(gpu_case) == {"num_cpus": 1, "num_gpus": 1}
    check_fits([gpu_case], [{"CPU": 2.0}, {"CPU": 1.0, "GPU": 1.0}])  # the second node takes it
    with pytest.raises(UsageError, match=r"needs 1 CPUs and 1 GPU on one node.*largest: 16 CPUs, 0 GPUs"):
        check_fits([gpu_case], [{"CPU": 16.0}, {"CPU": 2.0}])


def test_an_address_where_nothing_listens_is_refused_at_once():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"  # closed once the block ends
    attempts: list[tuple[object, float]] = []
    connect = socket.create_connection

    def one_attempt(where: Any, timeout: float) -> socket.socket:
        attempts.append((where, timeout))
        return connect(where, timeout=timeout)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "create_connection", one_attempt)
        with pytest.raises(UsageError, match=rf"ray_address='{address}': nothing answers there"):
            check_reachable(address)
    # "at once": one bounded connection attempt, where Ray itself retries for minutes
    assert len(attempts) == 1 and attempts[0][1] <= REACH_TIMEOUT_S
    check_reachable(None)  # RAY_ADDRESS or a local cluster: left to Ray
