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
    assert numpy["trains"] is True and rows["onnxruntime"]["trains"] is False  # an inference runtime
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
def test_tf32_without_a_gpu_is_one_line_and_exit_2_before_anything_is_written(tmp_path):
    results = tmp_path / "results"
    for argv, wanted in [
        (("run", "--dtype", "tf32", "--results-dir", str(results)),
         "dtype='tf32' runs on GPUs only and the devices are: cpu. Accepted: "),
        (("run", "--dtype", "tf32", "--device", "all", "--results-dir", str(results)),
         "No selected backend has a GPU to run tf32 on (it runs on GPUs only) here. Available: "),
        (("check", "--backend", "jax", "--dtype", "tf32"),
         "Precision 'tf32' runs on GPUs only, not on 'cpu'. Accepted: a gpu:N device, or float32 on the CPU"),
    ]:
        done = run(*argv)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("rnnbench: error: " + wanted), line
    assert not results.exists()


@pytest.mark.slow
def test_check_prints_json_and_exits_0_for_a_conforming_plugin_backend():
    done = run("check", "--backend", "torchloop", "--dtype", "float64", "--json")
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    assert report["ok"] and (report["backend"], report["reference"]) == ("torchloop", "numpy")
    assert len(report["comparisons"]) == 18 * 7  # 3 cells x 3 heads x 2 depths; 7 quantities each (step included)
    assert max(c["max_rel"] for c in report["comparisons"]) <= 1e-6


def test_example_plugin_is_listed_with_its_distribution():
    rows = {row["name"]: row for row in json.loads(run("plugins", "--json").stdout)}
    assert rows["torchloop"]["origin"] == "rnnbench-example-plugin 0.1.0"
    assert rows["torchloop"]["plugin"] == "example" and rows["torchloop"]["available"]


def test_check_exits_1_when_a_backend_does_not_conform(install_fake_plugin):
    install_fake_plugin("off", "off_by_a_bit")
    done = run("check", "--backend", "off_by_a_bit", "--dtype", "float64")
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "grad" in done.stdout


def test_the_plugin_listing_prints_install_hints_with_their_extras():
    from rich.console import Console

    from rnnbench.cli.tables import plugins_table

    row = {"name": "jax", "kind": "backend", "origin": "built-in", "versions": {}, "available": False,
           "reason": "the module 'jax' is not installed", "install_hint": 'pip install "rnnbench[jax]"'}
    console = Console(record=True, width=200)
    console.print(plugins_table([row]))
    assert 'pip install "rnnbench[jax]"' in console.export_text()
