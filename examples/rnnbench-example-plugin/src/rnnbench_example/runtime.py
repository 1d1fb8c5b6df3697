"""Importing torch, its devices in rnnbench's names, and the process settings it honours.

Imported only from the backend's methods: this module imports torch.
"""

from __future__ import annotations

import torch

from rnnbench.backend import ParitySettings
from rnnbench.errors import UsageError
from rnnbench.kit import parse_device

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def devices() -> list[str]:
    """"cpu", then "gpu:N" for each CUDA device torch sees (rnnbench's names, not torch's cuda:N)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"gpu:{i}" for i in range(count)]


def resolve(device: str) -> torch.device:
    """The torch device of an rnnbench device name; UsageError naming the ones there are."""
    if device not in devices():
        raise UsageError(f"Unknown device {device!r} for backend 'torchloop'. Accepted: {', '.join(devices())}")
    kind, index = parse_device(device)
    return torch.device("cpu") if kind == "cpu" else torch.device("cuda", index)


def configure(settings: ParitySettings) -> dict[str, str]:
    """Threads and denormals through torch's own switches; TF32 off, so float32 stays float32."""
    torch.set_num_threads(settings.threads)
    torch.set_flush_denormal(settings.flush_denormals)
    if torch.cuda.is_available() and hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = "ieee"  # the plugin computes float32 and float64 only
    return {"threads": f"torch.set_num_threads({torch.get_num_threads()})",
            "flush_denormals": f"torch.set_flush_denormal({settings.flush_denormals})",
            "tf32": "off"}


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; the CPU does not)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
