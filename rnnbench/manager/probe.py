"""`python -m rnnbench.manager.probe BACKEND OUT_JSON`: the backend's devices, asked in a process of its own.

The manager never imports a framework; asking a framework for its GPUs
happens here, in a short-lived process started by the one launcher
(``rnnbench.manager.process``), only when a run asks for more than the CPU.
A probe that fails is an error the user sees: a run that asked for GPUs
never goes on silently without them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rnnbench.errors import RnnbenchError, UsageError
from rnnbench.manager.process import python_module, read_document, run_process, scratch_dir

PROBE_TIMEOUT_S = 120.0


class ProbeError(UsageError):
    """The devices of a backend could not be listed."""


def devices_in_subprocess(backend: str, timeout_s: float = PROBE_TIMEOUT_S, threads: int = 1) -> list[str]:
    """The devices of ``backend``, asked in a fresh interpreter; ProbeError, with why, when that fails."""
    with scratch_dir() as scratch:
        out = Path(scratch) / "devices.json"
        ended = run_process(python_module("rnnbench.manager.probe", backend, out), timeout_s, threads,
                            Path(scratch) / "output.log")
        document = read_document(out)
    devices = (document or {}).get("devices")
    if isinstance(devices, list) and devices and all(isinstance(d, str) for d in devices):
        return devices
    why = (document or {}).get("error") or f"the probe {ended.how_it_ended()}: {ended.last_line()}"
    raise ProbeError(f"Could not list the devices of backend {backend!r}: {why}. "
                     f"Accepted: --device cpu, or fix the backend's install (rnnbench plugins)")


def main(argv: list[str]) -> int:
    from rnnbench.document import write_document
    from rnnbench.plugins.registry import Registry

    if len(argv) != 2:
        print("usage: python -m rnnbench.manager.probe BACKEND OUT_JSON", file=sys.stderr)
        return 2
    backend, out = argv
    try:
        write_document(out, {"devices": Registry().available_backend(backend).devices()})
    except RnnbenchError as exc:
        write_document(out, {"error": str(exc)})
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
