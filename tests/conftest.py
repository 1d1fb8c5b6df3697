"""Shared fixtures: fresh plugin managers and fake installed plugins; tests that need the machine alone (turn.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import MIRROR, PLUGIN_DIR
from turn import _machine_turn  # noqa: F401  (an autouse fixture: a test marked alone has the machine)

from rnnbench.plugins import BLOCK_ENV, DISABLE_AUTOLOAD_ENV, PluginManager, make_plugin_manager
from rnnbench.plugins.registry import Registry

# Tests read the datasets from the shared mirror beside the checkout, never the network.
if "RNNBENCH_DATA_DIR" not in os.environ and MIRROR.is_dir():
    os.environ["RNNBENCH_DATA_DIR"] = str(MIRROR)


# pytest-xdist names its worker in the environment; a pytest the test starts would take itself for one
# (pytest-benchmark then disables benchmarks).
XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(autouse=True)
def _plugin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test inherits plugin blocking or autoload settings from the shell, nor xdist's worker identity."""
    for name in (BLOCK_ENV, DISABLE_AUTOLOAD_ENV, *XDIST_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def pm() -> PluginManager:
    """A fresh manager with the built-in plugins only."""
    return make_plugin_manager(load_entry_points=False)


@pytest.fixture
def registry(pm: PluginManager) -> Registry:
    return Registry(pm)


@pytest.fixture
def install_fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Install a module of tests/plugins as a distribution with an ``rnnbench`` entry point.

    It writes a real ``*.dist-info`` folder onto sys.path, so
    ``importlib.metadata`` finds the entry point exactly as for a pip install;
    PYTHONPATH carries both folders into worker subprocesses. The folder and
    the path entries disappear after the test.
    """
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(PLUGIN_DIR), *inherited]))

    def install(entry_point: str, module: str, distribution: str = "fake-plugin", version: str = "1.2.3") -> None:
        info = tmp_path / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[rnnbench]\n{entry_point} = {module}\n")
        monkeypatch.syspath_prepend(str(tmp_path))

    return install


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``rnnbench ARGV...`` in this process: (exit code, standard output, standard error)."""
    from rnnbench.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(list(argv))
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="session")
def task_registry() -> Registry:
    """The built-in backends and tasks, no third-party plugin."""
    return Registry(make_plugin_manager(load_entry_points=False))


@pytest.fixture(scope="session")
def data_dir() -> str:
    if not MIRROR.is_dir():
        pytest.skip(f"no data mirror at {MIRROR} (set RNNBENCH_DATA_DIR)")
    return str(MIRROR)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, in collection order otherwise: under ``pytest -n`` the long ones start early and the
    short ones fill in behind them, rather than one long check running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
