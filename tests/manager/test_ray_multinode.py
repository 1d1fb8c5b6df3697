"""The Ray executor on a cluster of several nodes on this machine (``ray.cluster_utils.Cluster``), one of which dies.

Each case node stands in for a machine of its own, as on a real cluster: its
own temporary folder (TMPDIR: the node's lock, CPU claims and environment
file, which machines never share) and its own host name (the
``sitecustomize.py`` of the ``node_site`` fixture, which every Python
process the node starts reads), so its records and its environment file in the run
folder are its own. The head node has no CPUs: it holds the cluster's
services, the manager's connection and the executor's StartBook actor, never
a case, so a case node can die while the manager stays connected.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from paths import PLUGIN_DIR

from rnnbench.manager.executors.ray_cluster import LOST_MACHINE, start_book
from rnnbench.manager.options import RunOptions
from rnnbench.manager.runner import run
from rnnbench.plugins import make_plugin_manager
from rnnbench.plugins.registry import Registry
from rnnbench.results.frame import load_results
from rnnbench.results.store import MACHINES_DIR, read_environment, read_records

pytestmark = pytest.mark.slow

NODES = ("node-a", "node-b")  # the case nodes: one CPU each, so each runs one case at a time
HOST_ENV = "RNNBENCH_TEST_HOSTNAME"  # the host name a node's processes report (read by the sitecustomize below)
SLEEP_S = "0.25"  # RNNBENCH_TEST_SLEEP_S on the nodes: a 'sleepy' case runs long enough to lose its node mid-case
OBJECT_STORE_BYTES = 100 * 2**20  # Ray's minimum is 75 MiB; the default would take a share of this machine's memory
SITECUSTOMIZE = f"""\
# A Ray node of the multi-node test: its processes report the host name in {HOST_ENV}, as on a machine of its own.
import os
import socket

if os.environ.get("{HOST_ENV}"):
    socket.gethostname = lambda: os.environ["{HOST_ENV}"]
"""
# The conformance pre-check runs on the manager's machine whatever the executor (test_precheck.py covers it).
SMALL = dict(tasks=("forecasting",), modes=("throughput",), profile="smoke", threads=1, check=False, executor="ray",
             timeout_s=120.0)


@dataclass
class Cluster:
    """A running ``ray.cluster_utils.Cluster``: its address and, per case node, the node and its TMPDIR."""

    address: str
    cluster: Any
    nodes: dict[str, Any] = field(default_factory=dict)  # host name -> ray._private.node.Node
    tmp: dict[str, Path] = field(default_factory=dict)  # host name -> that node's TMPDIR


@pytest.fixture(scope="module")
def node_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for the nodes' PYTHONPATH: the sitecustomize and a fake distribution with the 'sleepy' backend.

    The manager (this process) finds the backend through the same distribution.
    """
    site = tmp_path_factory.mktemp("node-site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    info = site / "fake_plugin-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[rnnbench]\nsleepy = sleepy\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(PLUGIN_DIR))
        patch.syspath_prepend(str(site))
        yield site


@pytest.fixture(scope="module")
def registry_with_sleepy(node_site: Path) -> Registry:
    return Registry(make_plugin_manager())


def _start_cluster(site: Path, folder: Path) -> Cluster:
    """A head without CPUs and one CPU node per name of NODES, each with its own TMPDIR and host name."""
    from ray.cluster_utils import Cluster as RayCluster

    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    python_path = os.pathsep.join([str(site), str(PLUGIN_DIR), *inherited])
    common = dict(object_store_memory=OBJECT_STORE_BYTES)
    cluster = RayCluster(initialize_head=True, head_node_args=dict(
        num_cpus=0, include_dashboard=False, env_vars={"PYTHONPATH": python_path}, **common))
    started = Cluster(cluster.address, cluster)
    for name in NODES:
        started.tmp[name] = folder / name
        started.tmp[name].mkdir()
        env = {"PYTHONPATH": python_path, "TMPDIR": str(started.tmp[name]), HOST_ENV: name,
               "RNNBENCH_TEST_SLEEP_S": SLEEP_S}
        started.nodes[name] = cluster.add_node(num_cpus=1, env_vars=env, **common)
    cluster.wait_for_nodes()
    return started


@pytest.fixture(scope="module")
def cluster(node_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the module (it takes seconds to start): every node for ``spread_run``, then one dies."""
    pytest.importorskip("ray")
    started = _start_cluster(node_site, tmp_path_factory.mktemp("nodes"))
    try:
        yield started
    finally:
        started.cluster.shutdown()


def _node_files(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The environment files of the nodes in a run folder, by host name (each file is named after its host)."""
    found = {path.stem: json.loads(path.read_text()) for path in (run_dir / MACHINES_DIR).glob("*.json")}
    for stem, env in found.items():
        assert env["hostname"] == stem
    return found


@pytest.fixture(scope="module")
def spread_run(cluster: Cluster, registry_with_sleepy: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of four 'numpy' cases while every node is alive: two at once, one per node, the rest queued."""
    options = RunOptions(backends=("numpy",), cells=("rnn", "gru"), rounds=2, ray_address=cluster.address, **SMALL)
    return run(options, tmp_path_factory.mktemp("spread"), registry=registry_with_sleepy, quiet=True).run_dir


def test_cases_spread_over_the_nodes_each_with_its_own_environment(spread_run, cluster):
    records = list(read_records(spread_run))
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    nodes = _node_files(spread_run)
    assert sorted(nodes) == sorted(NODES)  # every node ran a case
    machines = {env["machine"]: env for env in nodes.values()}
    assert {r["machine"] for r in records} == set(machines)
    assert read_environment(spread_run)["machine"] not in machines  # the manager's machine ran no case
    run_id = records[0]["run_id"]
    for name, env in nodes.items():
        # Measured on that node, once for the run: the file it keeps in its own TMPDIR is the one the run saved.
        [kept] = cluster.tmp[name].glob(f"rnnbench-*-env-{run_id}-*.json")
        assert json.loads(kept.read_text()) == env
        assert env["matmul_peak_gflops"]["best"] > 0
    for record in records:
        train = record["throughput"]["train"]
        peak = machines[record["machine"]]["matmul_peak_gflops"]["best"]
        assert train["peak_fraction"] == pytest.approx(train["gflops"] / peak)  # its own node's peak


def test_the_managers_start_book_lives_on_the_managers_node(cluster):
    # Left to Ray, it landed on a case node about half the time, and died with it (dead_node_run catches that
    # only when it is the node that dies); the manager's node, the head here, outlives every case node.
    import ray

    ray.init(address=cluster.address, log_to_driver=False)
    try:
        here = ray.get_runtime_context().get_node_id()
        books = [start_book(ray) for _ in range(3)]
        where = ray.get([book.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id())
                         for book in books])
        assert where == [here] * 3
    finally:
        ray.shutdown()


@dataclass
class _Killer:
    """Removes the node of the first 'sleepy' worker it sees running, from a thread, while the run goes on."""

    cluster: Cluster
    removed: str = ""  # the host name of the node it removed
    worker: psutil.Process | None = None  # the rnnbench worker that ran there
    failure: BaseException | None = None

    def __call__(self) -> None:
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if any(self._remove_the_node_of(p) for p in psutil.Process().children(recursive=True)):
                    return
                time.sleep(0.2)
        except BaseException as exc:  # the test's main thread raises it
            self.failure = exc

    def _remove_the_node_of(self, process: psutil.Process) -> bool:
        try:
            argv = process.cmdline()
            if "rnnbench.worker" not in argv or json.loads(Path(argv[-2]).read_text())["backend"] != "sleepy":
                return False
            name = process.environ()[HOST_ENV]
        except (psutil.Error, OSError, ValueError, KeyError, IndexError):
            return False
        self.cluster.cluster.remove_node(self.cluster.nodes[name], allow_graceful=False)  # as a node that dies
        self.removed, self.worker = name, process
        return True


@dataclass(frozen=True)
class DeadNodeRun:
    options: RunOptions
    run_dir: Path
    removed: str  # the host name of the node that died
    worker: psutil.Process  # the rnnbench worker of the case it was running


@pytest.fixture(scope="module")
def dead_node_run(spread_run: Path, cluster: Cluster, registry_with_sleepy: Registry,
                  tmp_path_factory: pytest.TempPathFactory) -> DeadNodeRun:
    """A run of 'numpy' and 'sleepy' cases in which the node of a running 'sleepy' case dies mid-case.

    It asks for ``spread_run`` only to come after it: that run needs every node alive.
    """
    options = RunOptions(backends=("numpy", "sleepy"), cells=("rnn", "gru"), ray_address=cluster.address, **SMALL)
    killer = _Killer(cluster)
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    report = run(options, tmp_path_factory.mktemp("dead-node"), registry=registry_with_sleepy, quiet=True)
    thread.join(timeout=10)
    if killer.failure is not None:
        raise killer.failure
    assert killer.worker is not None, "no 'sleepy' worker was seen running"
    return DeadNodeRun(options, report.run_dir, killer.removed, killer.worker)


def _survivor(dead: DeadNodeRun) -> dict[str, Any]:
    """The environment of the node that stayed alive, from the run folder."""
    return _node_files(dead.run_dir)[next(name for name in NODES if name != dead.removed)]


def test_a_node_that_dies_loses_only_its_case_and_the_others_finish(dead_node_run):
    records = list(read_records(dead_node_run.run_dir))
    assert len({r["case_id"] for r in records}) == len(records) == 4  # one record per case, the lost one too
    [lost] = [r for r in records if r["status"] != "ok"]
    assert (lost["backend"], lost["status"], lost["machine"]) == ("sleepy", "lost", LOST_MACHINE)
    assert lost["error"].startswith("the Ray task was lost: ") and "\n" not in lost["error"]
    assert lost["duration_s"] > 0  # the manager saw its worker start
    _, alive = psutil.wait_procs([dead_node_run.worker], timeout=10)
    assert not alive  # the worker died with its node's Ray worker, as on a machine that went down
    finished = [r for r in records if r is not lost]
    assert all(r["machine"] != LOST_MACHINE for r in finished)
    assert _survivor(dead_node_run)["machine"] in {r["machine"] for r in finished}  # the other node ran its cases


def test_resume_after_a_node_died_finishes_the_lost_case_on_the_nodes_left(dead_node_run, registry_with_sleepy,
                                                                          tmp_path):
    run_dir = Path(shutil.copytree(dead_node_run.run_dir, tmp_path / dead_node_run.run_dir.name))  # others read it
    [lost] = [r["case_id"] for r in read_records(run_dir) if r["machine"] == LOST_MACHINE]
    resumed = run(dead_node_run.options, resume=run_dir, registry=registry_with_sleepy, quiet=True)
    records = list(read_records(run_dir))
    ok = {r["case_id"]: r for r in records if r["status"] == "ok"}
    assert sorted(ok) == sorted(case.case_id for case in resumed.cases)  # every case, ok
    assert len(ok) == sum(r["status"] == "ok" for r in records)  # exactly once
    assert all(r["machine"] == LOST_MACHINE for r in records if r["status"] != "ok")  # the lost line, if kept
    assert ok[lost]["machine"] == _survivor(dead_node_run)["machine"]  # run again on the node left
    frame = load_results(run_dir)  # the lost line is history once its case ran again: reports show the rerun
    assert sorted(frame.case_id) == sorted(ok) and set(frame.status) == {"ok"}
