"""tools/gpu-check.sh without a GPU: one line and exit 0 (CI has none); with one, the GPU tests run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu-check.sh"


def _has_gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(_has_gpu(), reason="a GPU is here: the script runs the real check (tools/gpu-check.sh)")
def test_without_a_gpu_the_check_says_so_in_one_line_and_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "results")], capture_output=True, text=True,
                          env=os.environ | {"PYTHON": sys.executable}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["gpu-check: no CUDA GPU is visible to torch, jax or tensorflow here; "
                                        "nothing to check"]
    assert not (tmp_path / "results").exists()  # nothing was run, nothing was written
