"""Process-wide torch settings, devices and the kernel path that actually runs.

Imported lazily (from ``TorchBackend.devices``/``configure``/``build``): this
module imports torch. Torch's threads, denormal mode and float32 precision
are process-global, so what ``configure`` applied is kept here and recorded
by every model's ``runtime_info``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rnnbench.backend import ParitySettings
from rnnbench.errors import UsageError
from rnnbench.kit import parse_device

# What configure() applied in this process; replaced by each call.
APPLIED: dict[str, str] = {}

# aten ops that identify the recurrent kernel, as the dispatcher names them.
KERNEL_OPS: dict[str, str] = {
    "aten::mkldnn_rnn_layer": "oneDNN fused kernel",
    "aten::_cudnn_rnn": "cuDNN",
    "aten::miopen_rnn": "MIOpen",
}
NATIVE_KERNEL = "ATen native cell loop (a matmul per step)"

# torch.compile of the step loop: one graph per (spec, shape, grad mode), all from RnnNet.forward, so
# dynamo's per-function recompile limit (8) is raised; hitting it raises instead of running eagerly.
RECOMPILE_LIMIT = 256


def available_devices() -> list[str]:
    """"cpu" then one "gpu:N" per visible CUDA GPU (torch's cuda:N)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"gpu:{i}" for i in range(gpus)]


def resolve_device(device: str) -> torch.device:
    """The torch device for ``device`` ("cpu" or "gpu:N"); UsageError naming the accepted ones."""
    accepted = available_devices()
    if device not in accepted:
        raise UsageError(f"Unknown device {device!r} for backend 'torch'. Accepted: {', '.join(accepted)}")
    kind, index = parse_device(device)
    return torch.device("cpu") if kind == "cpu" else torch.device("cuda", index)


def float32_matmuls(tf32: bool) -> str:
    """TF32 off (float32 as float32) or on for cuDNN RNNs and CUDA matmuls; return the setting as a string.

    torch's own default lets cuDNN RNNs run float32 in TF32 on Ampere and
    later (a 10-bit mantissa), which breaks conformance at 1e-4; rnnbench
    compares float32 as float32, so every backend must make this choice the
    same way, and turns TF32 on only for the "tf32" precision. Only the new
    fp32_precision API is used where it exists: mixing it with the legacy
    allow_tf32 flags makes torch raise.
    """
    mode = "tf32" if tf32 else "ieee"
    if hasattr(torch.backends.cudnn, "rnn") and hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cudnn.rnn.fp32_precision = mode  # type: ignore[attr-defined]
        torch.backends.cuda.matmul.fp32_precision = mode
        return f"{mode} (TF32 {'on' if tf32 else 'off'} for cuDNN RNN and CUDA matmul)"
    torch.backends.cudnn.allow_tf32 = tf32  # torch < 2.9: the legacy flags
    torch.backends.cuda.matmul.allow_tf32 = tf32
    return f"{mode} (allow_tf32={tf32} for cuDNN and CUDA matmul)"


def configure(settings: ParitySettings) -> dict[str, str]:
    """Apply threads, denormals and float32 precision; return what was applied."""
    torch.set_num_threads(settings.threads)
    supported = torch.set_flush_denormal(settings.flush_denormals)
    if settings.flush_denormals:
        denormals = "CPU: flushed to zero (torch.set_flush_denormal(True))" if supported else (
            "CPU: not flushed, torch.set_flush_denormal is unsupported on this CPU")
    else:
        denormals = "CPU: kept (torch default; torch.set_flush_denormal(False))"
    APPLIED.clear()
    APPLIED.update({
        "threads": str(torch.get_num_threads()),
        "threads_mechanism": "torch.set_num_threads",
        "interop_threads": str(torch.get_num_interop_threads()),
        "flush_denormals": str(settings.flush_denormals and supported),
        "denormals": denormals,
        "fp32_precision": float32_matmuls(False),  # each build sets its spec's own (tf32 or not)
        "compile": "eager (no torch.compile)",
        "fused_kernel": "oneDNN for nn.LSTM float32 on CPU; none for nn.GRU/nn.RNN or float64 on CPU; "
                        "cuDNN for all cells on CUDA",
        "mkldnn_enabled": str(torch.backends.mkldnn.enabled),
    })
    return dict(APPLIED)


def compile_loop(net: torch.nn.Module | Callable[..., Any]) -> tuple[Callable[..., Any], str]:
    """``net`` (the module, or its streaming ``step``) under torch.compile, and what was applied, as a string.

    Static shapes (a new batch shape compiles again, as a new sequence length
    must: the loop is unrolled) and ``fullgraph`` (a graph break is an error).
    Dynamo's limits are process-wide; ``fail_on_recompile_limit_hit`` makes a
    model that would otherwise fall back to eager execution raise, so
    "compiled" never silently runs eagerly.
    """
    import torch._dynamo.config as dynamo

    dynamo.recompile_limit = max(dynamo.recompile_limit, RECOMPILE_LIMIT)
    dynamo.accumulated_recompile_limit = max(dynamo.accumulated_recompile_limit, 4 * RECOMPILE_LIMIT)
    dynamo.fail_on_recompile_limit_hit = True
    _decline_tf32_advice()
    compiled = torch.compile(net, backend="inductor", fullgraph=True, dynamic=False)
    return compiled, ("torch.compile(backend='inductor', fullgraph=True, dynamic=False) of the step loop; "
                      f"recompile_limit={dynamo.recompile_limit}, fail_on_recompile_limit_hit=True")


def _decline_tf32_advice() -> None:
    """Spend inductor's once-per-process advice to turn TF32 on, unheard.

    Float32 stays float32 by design (``float32_matmuls``), so the advice is
    noise in every GPU worker's log, and an error where warnings are errors.
    inductor gives it once per process (a cached function), so calling that
    function here, under a filter, uses it up.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # importing inductor warns of deprecations that are torch's own
        from torch._inductor import compile_fx

        advise = getattr(compile_fx, "_warn_tf32_disabled", None)
        if advise is not None:
            advise()


def current_settings() -> dict[str, str]:
    """What configure applied, or the live values where it was never called."""
    if APPLIED:
        return dict(APPLIED)
    return {
        "threads": str(torch.get_num_threads()),
        "interop_threads": str(torch.get_num_interop_threads()),
        "denormals": "torch default (not flushed) unless set elsewhere; configure() not called",
        "compile": "eager (no torch.compile)",
        "mkldnn_enabled": str(torch.backends.mkldnn.enabled),
    }


class _OpRecorder(TorchDispatchMode):
    """Records the name of every aten op that reaches the dispatcher."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.ops.add(str(func.name()))
        return func(*args, **(kwargs or {}))


def probe_kernel(rnn: torch.nn.RNNBase, dtype: torch.dtype, device: torch.device) -> str:
    """Which kernel the recurrent layer dispatches to, seen by recording its aten ops.

    Runs one tiny forward with autograd on, as in training; torch picks the
    kernel from the cell, dtype, device and backend flags, never from sizes,
    so the answer holds for real batches. (A dispatch mode rather than the
    profiler, which prints to stderr.)
    """
    x = torch.zeros(1, 2, rnn.input_size, dtype=dtype, device=device)  # (B=1, T=2, I)
    recorder = _OpRecorder()
    with torch.enable_grad(), recorder:
        rnn(x)
    for op, label in KERNEL_OPS.items():
        if op in recorder.ops:
            return label
    return NATIVE_KERNEL


def peak_memory(device: torch.device) -> tuple[int, int]:
    """(peak, current) bytes allocated by torch's caching allocator on ``device``."""
    return torch.cuda.max_memory_allocated(device), torch.cuda.memory_allocated(device)
