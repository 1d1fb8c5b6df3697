"""Listing and help never import a deep-learning framework (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "jaxlib", "optax")

PROBE = """
import json, runpy, sys
sys.argv = ["rnnbench", *json.loads(sys.argv[1])]
try:
    runpy.run_module("rnnbench", run_name="__main__")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
loaded = [m for m in {frameworks!r} if m in sys.modules]
print("\\nPROBE", json.dumps({{"code": code, "loaded": loaded}}))
"""


def probe(*argv: str) -> dict:
    script = PROBE.format(frameworks=FRAMEWORKS)
    done = subprocess.run([sys.executable, "-c", script, json.dumps(argv)], capture_output=True, text=True,
                          timeout=120, check=False)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("PROBE ")]
    assert line, done.stdout + done.stderr
    return json.loads(line[-1][len("PROBE "):])


@pytest.mark.parametrize("argv", [("--help",), ("plugins",), ("plugins", "--json"), ("list",)])
def test_cli_commands_import_no_framework(argv):
    result = probe(*argv)
    assert result == {"code": 0, "loaded": []}


def fresh_python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True).stdout.strip()


def test_import_and_plugin_manager_import_no_framework():
    code = ("import sys, rnnbench; from rnnbench.plugins.registry import Registry; r = Registry(); "
            "[r.backend(n).available() for n in r.backend_names()]; "
            f"print([m for m in {FRAMEWORKS!r} if m in sys.modules])")
    assert fresh_python(code) == "[]"


def test_public_api_names_resolve_lazily():
    # `import rnnbench` is light; each public name imports its module on first use, still without a framework.
    code = ("import sys, rnnbench; light = 'pandas' not in sys.modules; "
            "found = [callable(getattr(rnnbench, n)) for n in rnnbench.__all__ if n not in ('__version__',)]; "
            f"print(light, all(found), [m for m in {FRAMEWORKS!r} if m in sys.modules])")
    assert fresh_python(code) == "True True []"
