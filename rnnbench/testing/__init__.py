"""rnnbench's pytest plugin: the conformance suite and the micro-benchmarks, for any backend by name.

::

    pytest --rnnbench-backend mine                                   # both suites for backend "mine"
    pytest --rnnbench-backend mine --rnnbench-suite conformance      # one test per conformance case
    pytest --rnnbench-backend mine --benchmark-only -m "not slow"    # the small micro-benchmarks only

The plugin is registered under pytest's ``pytest11`` entry point with the
name ``rnnbench.testing``, so ``-p rnnbench.testing`` and
``pytest_plugins = ["rnnbench.testing"]`` work too where plugin autoloading
is off. It does nothing until ``--rnnbench-backend`` is given; then it adds
its suites to whatever else pytest collects:

- ``rnnbench.testing/conformance_suite.py::test_conformance[<backend>-<case>]``:
  the cases and tolerances of ``rnnbench check`` (rnnbench/conformance.py),
  one test per case, so a failure names the case, the quantity, the worst
  parameter and the errors;
- ``rnnbench.testing/benchmark_suite.py::test_forward[...]`` and
  ``::test_train_step[...]``: the micro-benchmarks of ``tests/benchmarks``
  (rnnbench/testing/micro.py) for that backend, under pytest-benchmark; the
  medium shapes are marked ``slow``. Collected only where pytest-benchmark
  is installed.

Backends come from the rnnbench plugin registry (built-ins and every
installed ``rnnbench`` entry point), so a third-party backend is named like a
built-in one. Fixtures for your own tests: ``rnnbench_registry`` and
``rnnbench_micro`` (one micro-benchmark on the ``benchmark`` fixture).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rnnbench.backend import canonical_device

if TYPE_CHECKING:
    from rnnbench.backend import Backend
    from rnnbench.plugins.registry import Registry
    from rnnbench.testing.micro import MicroCase

SUITES = ("conformance", "benchmarks")
SUITE_FILES = {"conformance": "conformance_suite.py", "benchmarks": "benchmark_suite.py"}
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Selection:
    """What the options ask for."""

    backends: tuple[str, ...]  # backend names, "all" expanded; empty: the plugin is inert
    suites: tuple[str, ...]  # of SUITES
    device: str  # "cpu" or "gpu:N", as every backend names it (rnnbench.backend)
    rounds: int | None  # timed rounds per micro-benchmark; None: the shape's default
    warmup: int | None  # untimed rounds after the first call; None: the shape's default


SELECTION = pytest.StashKey[Selection]()
REGISTRY = pytest.StashKey["Registry"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnbench", "rnnbench conformance suite and micro-benchmarks")
    group.addoption("--rnnbench-backend", action="append", default=[], metavar="NAME",
                    help="Run rnnbench's suites against backend NAME (repeatable or comma list; 'all' for "
                         "every available one). Without it the plugin does nothing.")
    group.addoption("--rnnbench-suite", action="append", default=[], choices=SUITES,
                    help="Which suite to add (repeatable; default: both).")
    group.addoption("--rnnbench-device", default="cpu", metavar="DEVICE",
                    help="Device the backend runs on: cpu (default) or gpu:N; cuda:N is read as gpu:N.")
    group.addoption("--rnnbench-rounds", type=_positive_int, default=None, metavar="N",
                    help="Timed rounds per micro-benchmark (default: the shape's own: 10 small, 5 medium).")
    group.addoption("--rnnbench-warmup", type=_non_negative_int, default=None, metavar="N",
                    help="Untimed rounds before them, after the first (compiling) call (default: the shape's).")


def _positive_int(value: str) -> int:
    number = _non_negative_int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not valid. Accepted: an integer >= 1")
    return number


def _non_negative_int(value: str) -> int:
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not valid. Accepted: an integer >= 0")
    return int(value)


def pytest_configure(config: pytest.Config) -> None:
    names = [n.strip() for value in config.getoption("rnnbench_backend") for n in value.split(",") if n.strip()]
    suites = tuple(dict.fromkeys(config.getoption("rnnbench_suite"))) or SUITES
    device = canonical_device(config.getoption("rnnbench_device"))
    selection = Selection((), suites, device, config.getoption("rnnbench_rounds"), config.getoption("rnnbench_warmup"))
    if names:
        # The suites' medium shapes carry this marker; rnnbench's own pyproject registers it too.
        config.addinivalue_line("markers", "slow: takes more than a few seconds")
        registry = _registry()
        selection = dataclasses.replace(selection, backends=_resolve(registry, names))
        config.stash[REGISTRY] = registry
    config.stash[SELECTION] = selection


def _registry() -> Registry:
    from rnnbench.errors import RnnbenchError
    from rnnbench.plugins.registry import Registry

    try:
        registry = Registry()
        registry.backend_names()  # loads every plugin now: a broken one is a usage error, not a crash
    except RnnbenchError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return registry


def _resolve(registry: Registry, names: list[str]) -> tuple[str, ...]:
    """The backend names, ``all`` expanded; an unknown or unavailable one stops pytest with one line."""
    from rnnbench.errors import RnnbenchError

    try:
        chosen, _ = registry.select_backends(names)
    except RnnbenchError as exc:
        raise pytest.UsageError(str(exc)) from exc
    if not chosen:
        raise pytest.UsageError("--rnnbench-backend all found no available backend. Accepted: an installed backend")
    return tuple(backend.name for backend in chosen)


def selection_of(config: pytest.Config) -> Selection:
    """The options as parsed by this plugin."""
    return config.stash[SELECTION]


def registry_of(config: pytest.Config) -> Registry:
    """The registry the named backends come from (only when ``--rnnbench-backend`` was given)."""
    if REGISTRY not in config.stash:
        config.stash[REGISTRY] = _registry()
    return config.stash[REGISTRY]


def _has_benchmark(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("benchmark")  # pytest-benchmark's entry-point name


def pytest_report_header(config: pytest.Config) -> list[str]:
    selection = selection_of(config)
    if not selection.backends:
        return []
    lines = [f"rnnbench: backends {', '.join(selection.backends)} on {selection.device}; "
             f"suites {', '.join(selection.suites)}"]
    if "benchmarks" in selection.suites and not _has_benchmark(config):
        lines.append("rnnbench: benchmarks suite not collected: pytest-benchmark is not installed "
                     '(pip install "rnnbench[test]")')
    return lines


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    selection = selection_of(config)
    if not selection.backends:
        return
    for suite in selection.suites:
        if suite == "benchmarks" and not _has_benchmark(config):
            continue
        path = HERE / SUITE_FILES[suite]
        module = pytest.Module.from_parent(session, path=path, nodeid=f"rnnbench.testing/{path.name}")
        items.extend(session.genitems(module))


@pytest.fixture(scope="session")
def rnnbench_registry(pytestconfig: pytest.Config) -> Registry:
    """Built-in and installed rnnbench plugins."""
    return registry_of(pytestconfig)


@pytest.fixture
def rnnbench_micro(benchmark: Any, pytestconfig: pytest.Config) -> Callable[[Backend, MicroCase, str], None]:
    """``run(backend, case, kind)``: one micro-benchmark (kind "forward" or "train_step") on ``benchmark``.

    It depends on pytest-benchmark's ``benchmark`` fixture by name, so --benchmark-skip and
    --benchmark-only treat a test using it as a benchmark.
    """
    from rnnbench.testing.micro import run_micro

    selection = selection_of(pytestconfig)

    def run(backend: Backend, case: MicroCase, kind: str) -> None:
        run_micro(benchmark, backend, case, kind, rounds=selection.rounds, warmup=selection.warmup)

    return run
