"""Under ``pytest -n``: a test marked ``alone`` runs with no other test beside it; the others share the machine."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import ExitStack

import pytest


@pytest.fixture(autouse=True)
def _machine_turn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under ``pytest -n``: a test marked ``alone`` runs with no other test beside it; the others share.

    Such a test measures the machine (an A/A run's spread, a guard against contention), which a test on
    the other core would change. A readers-writer lock over the files of the session's shared temporary
    root: every test holds the room shared, an ``alone`` test holds it exclusively; the turnstile, taken
    first by both, keeps a waiting ``alone`` test from being passed by a stream of shared ones. Without
    xdist there is one test at a time, and the locks are free.
    """
    root = tmp_path_factory.getbasetemp().parent  # one folder for every xdist worker of this session
    alone = request.node.get_closest_marker("alone") is not None
    with ExitStack() as held:
        turnstile = held.enter_context(open(root / "rnnbench-turnstile.lock", "a"))
        room = held.enter_context(open(root / "rnnbench-room.lock", "a"))
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        yield
