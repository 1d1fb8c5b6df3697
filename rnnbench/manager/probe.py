"""`python -m rnnbench.manager.probe BACKEND`: print the backend's devices as JSON, in its own process.

The manager never imports a framework; asking a framework for its GPUs
happens here, in a short-lived process, only when a run asks for GPUs.
"""

from __future__ import annotations

import json
import subprocess
import sys

from rnnbench.errors import RnnbenchError


def devices_in_subprocess(backend: str, timeout_s: float = 120.0) -> list[str]:
    """The devices of ``backend``, asked in a fresh interpreter; ["cpu"] if that fails."""
    try:
        done = subprocess.run([sys.executable, "-m", "rnnbench.manager.probe", backend], capture_output=True, text=True,
                              timeout=timeout_s, check=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
        return list(json.loads(lines[-1])) if lines else ["cpu"]
    except (subprocess.SubprocessError, ValueError):
        return ["cpu"]


def main(argv: list[str]) -> int:
    from rnnbench.plugins.registry import Registry

    if len(argv) != 1:
        print("usage: python -m rnnbench.manager.probe BACKEND", file=sys.stderr)
        return 2
    try:
        print(json.dumps(Registry().available_backend(argv[0]).devices()))
    except RnnbenchError as exc:
        print(f"rnnbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
