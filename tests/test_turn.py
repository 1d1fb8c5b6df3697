"""The machine turn (tests/turn.py): under ``pytest -n`` a test marked ``alone`` overlaps no other test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS = Path(__file__).parent

INNER = '''
import time
from pathlib import Path

import pytest

LOG = Path({log!r})


def _span(name):
    with LOG.open("a") as log:
        log.write(f"{{time.monotonic_ns()}} {{name}} start\\n")
    time.sleep(0.3)
    with LOG.open("a") as log:
        log.write(f"{{time.monotonic_ns()}} {{name}} end\\n")


@pytest.mark.parametrize("n", range(4))
def test_shared_before(n):
    _span(f"shared-{{n}}")


@pytest.mark.alone
def test_alone():
    _span("alone")


@pytest.mark.parametrize("n", range(4, 8))
def test_shared_after(n):
    _span(f"shared-{{n}}")
'''


def _spans(log: Path) -> dict[str, tuple[int, int]]:
    """Each test's (start, end) on the system-wide monotonic clock, which every worker process shares."""
    events: dict[str, dict[str, int]] = {}
    for line in log.read_text().splitlines():
        stamp, name, what = line.split()
        events.setdefault(name, {})[what] = int(stamp)
    return {name: (e["start"], e["end"]) for name, e in events.items()}


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.slow
def test_under_xdist_an_alone_test_overlaps_no_other_while_the_others_run_side_by_side(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    log = pytester.path / "spans.log"
    pytester.makeconftest("from turn import _machine_turn  # noqa: F401\n\n\ndef pytest_configure(config):\n"
                          "    config.addinivalue_line('markers', 'alone: the machine to itself')\n")
    pytester.makepyfile(test_inner=INNER.format(log=str(log)))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)
    spans = _spans(log)
    alone, shared = spans.pop("alone"), list(spans.values())
    assert not [s for s in shared if _overlap(alone, s)]
    # the lock is not a lock on everything: shared tests did run two at a time
    assert any(_overlap(a, b) for i, a in enumerate(shared) for b in shared[i + 1:])
