"""Process-wide TensorFlow settings: threads, GPUs, denormals, the XLA rule.

Imported lazily by TensorflowBackend (importing it imports TensorFlow).
"""

from __future__ import annotations

import tensorflow as tf

from rnnbench.backend import ParitySettings
from rnnbench.errors import UsageError
from rnnbench.spec import ModelSpec

# TensorFlow's executor and XLA set FTZ/DAZ on their CPU op threads and offer no switch
# to keep denormals (checked: 1e-30 * 1e-10 gives 0 in eager, tf.function and XLA).
DENORMALS_CPU = "flushed to zero (TensorFlow sets FTZ/DAZ on its op threads; not configurable)"

# XLA on the CPU only below this hidden size; see use_xla().
XLA_CPU_MAX_HIDDEN = 128


def gpu_names() -> list[str]:
    """rnnbench names of the visible GPUs: gpu:0, gpu:1, ..."""
    return [f"gpu:{i}" for i, _ in enumerate(tf.config.list_physical_devices("GPU"))]


def enable_memory_growth() -> list[str]:
    """Let each GPU's allocator grow on demand, so its peak counter reflects real use.

    Must happen before TF initialises the GPUs; afterwards the current setting stays
    and is what this reports.
    """
    applied = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # GPUs already initialised: the setting can no longer change
            pass
        applied.append(f"{gpu.name}={tf.config.experimental.get_memory_growth(gpu)}")
    return applied


def set_threads(threads: int) -> tuple[int, int]:
    """Intra- and inter-op pool sizes = ``threads`` through tf.config.threading.

    TensorFlow ignores OMP_NUM_THREADS and friends; tf.config.threading is the only
    working switch, and only before TF executes its first op.
    """
    threading = tf.config.threading
    wanted = (threads, threads)
    current = (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
    if current == wanted:
        return wanted
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as err:
        raise UsageError(
            f"cannot set TensorFlow to {threads} threads: TensorFlow already started with intra-op "
            f"{current[0]} / inter-op {current[1]} (0 = one per core). Accepted: configure() before the "
            "first TensorFlow op, in a fresh process"
        ) from err
    return wanted


def configure(settings: ParitySettings) -> dict[str, str]:
    """Apply ``settings`` and return what is now in force, as strings."""
    intra, inter = set_threads(settings.threads)
    applied = {
        "threads": str(settings.threads),
        "intra_op_threads": str(intra),
        "inter_op_threads": str(inter),
        "flush_denormals": str(settings.flush_denormals),
        "denormals": DENORMALS_CPU,
        "xla": f"CPU: jit_compile when hidden_size <= {XLA_CPU_MAX_HIDDEN}; GPU: unless cuDNN runs",
        "fused_kernel": "cuDNN for LSTM/GRU on a GPU; none on the CPU",
    }
    growth = enable_memory_growth()
    if growth:
        applied["gpu_memory_growth"] = ", ".join(growth)
    return applied


def use_xla(spec: ModelSpec, device: str) -> bool:
    """Whether the compiled steps use XLA (jit_compile) for ``spec`` on ``device``.

    GPU: as Keras' own ``compile(jit_compile="auto")``: XLA unless a cuDNN layer
    (LSTM, GRU) runs, since cuDNN ops cannot be XLA-compiled. CPU: measured
    (DESIGN.md "Parity settings" and the runs in tests/benchmarks): XLA wins on
    small hidden sizes and loses on large ones.
    """
    if device != "cpu":
        return spec.cell == "rnn"
    return spec.hidden_size <= XLA_CPU_MAX_HIDDEN


def current_threads() -> dict[str, str]:
    """The thread pools TensorFlow uses now (0 = its default, one per core)."""
    threading = tf.config.threading
    return {
        "intra_op_threads": str(threading.get_intra_op_parallelism_threads()),
        "inter_op_threads": str(threading.get_inter_op_parallelism_threads()),
        "denormals": DENORMALS_CPU,
    }
