"""The example plugin is a skeleton of a real framework backend, shaped like the built-ins.

That it passes the conformance check is tests/test_conformance.py's, and through the pytest plugin
tests/test_testing_plugin.py's.
"""

from __future__ import annotations

import ast
from pathlib import Path

from paths import TESTS

import rnnbench.backends

EXAMPLE = TESTS.parent / "examples" / "rnnbench-example-plugin" / "src" / "rnnbench_example"
BUILTINS = Path(rnnbench.backends.__file__).parent
ROLES = {"__init__.py", "runtime.py", "layout.py", "model.py", "optim.py"}
RUNTIME_ROLES = {"__init__.py", "runtime.py", "model.py"}


def modules(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.py")}


def test_every_backend_package_has_the_same_roles():
    packages = sorted(p for p in BUILTINS.iterdir() if p.is_dir() and p.name.endswith("_backend"))
    assert [p.name for p in packages] == ["jax_backend", "numpy_backend", "onnxruntime_backend", "openvino_backend",
                                          "tensorflow_backend", "torch_backend"]
    for package in packages:
        # numpy's canonical layout is its own, so it has no layout module; its net is cells + heads. The
        # inference runtimes train nothing (no optim) and share one graph and its layout (onnx_graph).
        expected = {"numpy_backend": ROLES - {"layout.py"}, "onnxruntime_backend": RUNTIME_ROLES,
                    "openvino_backend": RUNTIME_ROLES}.get(package.name, ROLES)
        assert expected <= modules(package), package.name
    assert {"layout.py", "graph.py", "model.py"} <= modules(BUILTINS / "onnx_graph")
    assert ROLES | {"net.py"} == modules(EXAMPLE)


def test_the_example_imports_no_built_in_backend_and_no_framework_at_import():
    for path in EXAMPLE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("rnnbench.backends"), (path.name, node.module)
    init = ast.parse((EXAMPLE / "__init__.py").read_text())
    top_level = {alias.name.split(".")[0] for node in init.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in node.names} | {node.module.split(".")[0] for node in init.body
                                             if isinstance(node, ast.ImportFrom) and node.module}
    assert "torch" not in top_level



def test_the_example_shows_each_output_hook():
    import pandas as pd

    from rnnbench_example import rnnbench_report_sections, rnnbench_update_machine_info

    frame = pd.DataFrame({"backend": ["torch", "torchloop", "numpy"], "task": ["airline"] * 3, "cell": ["gru"] * 3,
                          "mode": ["throughput"] * 3, "train_samples_per_s": [200.0, 50.0, 100.0]})
    [section] = rnnbench_report_sections(frame=frame)
    assert section.rows == (("airline", "gru", "0.25x"),)
    assert rnnbench_report_sections(frame=frame[frame.backend != "torchloop"]) == []  # only where it ran
    info: dict = {}
    rnnbench_update_machine_info(info=info)
    assert all(isinstance(flag, str) for flag in info.get("cpu_vector_extensions", []))

