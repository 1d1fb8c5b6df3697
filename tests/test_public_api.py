"""Every public name the README documents imports and does its job from that path."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
from paths import GOLDEN

import rnnbench

# (import path, name) as the README writes them.
DOCUMENTED = [
    ("rnnbench", "hookimpl"), ("rnnbench", "load_results"), ("rnnbench", "run"), ("rnnbench", "RunOptions"),
    ("rnnbench", "train"), ("rnnbench", "check"), ("rnnbench", "html_report"), ("rnnbench", "compare_runs"),
    ("rnnbench", "publish"), ("rnnbench.spec", "ModelSpec"), ("rnnbench.spec", "OptimizerSpec"),
    ("rnnbench.params", "init_params"), ("rnnbench.plugins.registry", "Registry"), ("rnnbench.backend", "Backend"),
    ("rnnbench.results", "read_environments"), ("rnnbench.hookspecs", "rnnbench_register_backends"),
    ("rnnbench.backends.torch_backend", "rnnbench_register_backends"), ("rnnbench.testing.bench", "main"),
    ("rnnbench.cli", "main"),
]


@pytest.mark.parametrize(("module", "name"), DOCUMENTED, ids=[f"{m}.{n}" for m, n in DOCUMENTED])
def test_every_documented_name_imports(module, name):
    assert getattr(importlib.import_module(module), name) is not None


def test_the_readme_api_example_runs():
    from rnnbench.params import init_params
    from rnnbench.plugins.registry import Registry
    from rnnbench.spec import ModelSpec, OptimizerSpec

    spec = ModelSpec("lstm", hidden_size=8, head="lm", output_size=5, num_layers=2, vocab_size=5, embedding_dim=4)
    adam = OptimizerSpec("adam", lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=5.0)
    model = Registry().available_backend("numpy").build(spec, init_params(spec, seed=0), adam, device="cpu")
    x = np.random.default_rng(0).integers(0, 5, (3, 4))
    loss, grads = model.loss_and_grads(x, x)
    model.train_step(x, x)
    assert np.isfinite(loss) and grads.keys() == model.get_params().keys()
    assert model.predict(x).shape == (3, 4, 5)


def test_the_report_functions_work_on_a_real_run(tmp_path):
    run_dir = GOLDEN / "compare-base"
    frame = rnnbench.load_results(run_dir)
    assert len(frame) > 0 and {"backend", "task", "cell", "mode"} <= set(frame.columns)
    assert rnnbench.html_report([run_dir]).lstrip().lower().startswith("<!doctype html>")
    same = rnnbench.compare_runs(run_dir, run_dir)
    assert same.comparisons and all(c.outcome == "one process: not tested" for c in same.comparisons)
    published = rnnbench.publish([run_dir], tmp_path / "site")
    assert len(published) == 1 and (tmp_path / "site" / "index.html").is_file()


@pytest.mark.slow
def test_check_is_the_conformance_check(registry):
    report = rnnbench.check(registry, "numpy", dtypes=("float64",))
    assert report.backend == "numpy" and report.ok


def test_the_old_registry_path_still_imports_with_a_deprecation_warning():
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "try:\n    import rnnbench.registry\nexcept DeprecationWarning as w:\n    print(w)\n")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "rnnbench.plugins.registry" in shown
    with pytest.warns(DeprecationWarning, match="rnnbench.plugins.registry"):
        module = importlib.reload(importlib.import_module("rnnbench.registry"))
    from rnnbench.plugins.registry import Registry

    assert module.Registry is Registry


def test_the_worker_command_is_python_m_rnnbench_worker():
    done = subprocess.run([sys.executable, "-m", "rnnbench.worker"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage: python -m rnnbench.worker CASE_JSON OUT_JSON" in done.stderr
