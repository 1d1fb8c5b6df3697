"""Where the tests' fixtures live on disk, in one place (test modules sit in folders by layer)."""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden"  # result files the report, compare and loader tests read
PLUGIN_DIR = TESTS / "plugins"  # sample and deliberately broken plugins
# The datasets: the shared mirror beside the checkout (conftest exports it), never the network.
MIRROR = Path(os.environ.get("RNNBENCH_DATA_DIR") or TESTS.parents[1] / "shared" / "data")
