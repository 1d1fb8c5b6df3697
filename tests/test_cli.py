"""The command line, run as users run it: `rnnbench` and `python -m rnnbench` in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RNNBENCH = shutil.which("rnnbench", path=str(Path(sys.executable).parent)) or "rnnbench"


def run(*argv: str, module: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rnnbench"] if module else [RNNBENCH]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNBENCH_")}
    return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=300, env=env, check=False)


def test_python_m_rnnbench_is_the_rnnbench_command():
    for argv in (("plugins", "--json"), ("--help",), ("check", "--backend", "nope")):
        script, module = run(*argv), run(*argv, module=True)
        assert (script.returncode, script.stdout, script.stderr) == (module.returncode, module.stdout, module.stderr)


def test_plugins_json_lists_numpy_as_available_built_in():
    rows = {row["name"]: row for row in json.loads(run("plugins", "--json").stdout)}
    numpy = rows["numpy"]
    assert (numpy["kind"], numpy["origin"], numpy["available"]) == ("backend", "built-in", True)
    assert numpy["versions"]["numpy"].split(".")[0].isdigit()
    for name in ("torch", "tensorflow", "jax"):
        assert rows[name]["available"] or rows[name]["install_hint"] == f'pip install "rnnbench[{name}]"'


def test_plugins_table_shows_every_backend():
    out = run("plugins").stdout
    for name in ("numpy", "torch", "tensorflow", "jax"):
        assert name in out


def test_unknown_backend_is_one_line_and_exit_2():
    done = run("check", "--backend", "nope")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("rnnbench: error: Unknown backend 'nope'. Available: jax, numpy, ")


def test_bad_option_value_is_a_usage_error():
    done = run("check", "--backend", "numpy", "--dtype", "float16")
    assert done.returncode == 2
    assert "'float16' is not one of 'float64', 'float32', 'both'" in done.stderr


@pytest.mark.slow
def test_check_numpy_passes_and_prints_json():
    done = run("check", "--backend", "numpy", "--json")
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    assert report["ok"] and report["reference"] == "finite differences"
    assert len(report["comparisons"]) == 18
    assert max(c["max_rel"] for c in report["comparisons"]) <= 1e-6
