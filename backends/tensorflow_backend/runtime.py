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
DENORMALS_GPU = "as each CUDA kernel was compiled (not set by rnnbench)"

# XLA on the CPU only up to this hidden size; see use_xla().
XLA_CPU_MAX_HIDDEN = 64


def gpu_names() -> list[str]:
    """rnnbench names of the visible GPUs: gpu:0, gpu:1, ..."""
    return [f"gpu:{i}" for i, _ in enumerate(tf.config.list_physical_devices("GPU"))]


def prepare_gpus() -> dict[str, str]:
    """Memory growth on every GPU, and float32 matmuls in full float32 (no TF32).

    Growth lets each GPU's allocator take memory on demand, so its peak counter
    reflects real use; it must be set before TF initialises the GPUs, and what
    is in force is reported either way. TensorFlow runs float32 matmuls and
    cuDNN RNNs in TensorFloat-32 on Ampere and later by default (about 3
    decimal digits); that is a different function from the float32 reference,
    so it is switched off.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return {}
    growth = []
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # GPUs already initialised: the setting can no longer change
            pass
        growth.append(f"{gpu.name}={tf.config.experimental.get_memory_growth(gpu)}")
    tf.config.experimental.enable_tensor_float_32_execution(False)
    return {"gpu_memory_growth": ", ".join(growth), "tf32": "off"}


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
    applied.update(prepare_gpus())
    return applied


def use_xla(spec: ModelSpec, device: str) -> bool:
    """Whether the compiled steps use XLA (jit_compile) for ``spec`` on ``device``.

    GPU: as Keras' own ``compile(jit_compile="auto")``: XLA unless a cuDNN layer
    (LSTM, GRU) runs, since cuDNN ops cannot be XLA-compiled. CPU: by hidden
    size, as measured on 2 cores (train step, graph time / XLA time, all three
    cells): H=32 (IMDB, T=500, B=128) 1.9-2.9x; H=64 (T=96, B=32) 1.5-2.5x;
    H=128 (char lm, T=100, B=64) 0.5-0.9x; H=256 0.7-0.8x; H=512 0.85-0.98x.
    Small per-step matmuls leave the graph executor's per-op overhead
    dominant, which XLA's fusion removes; large ones are matmul-bound and
    XLA's CPU matmuls are slower than oneDNN's.
    """
    if device != "cpu":
        return spec.cell == "rnn"
    return spec.hidden_size <= XLA_CPU_MAX_HIDDEN


def model_settings(device: str) -> dict[str, str]:
    """What a model on ``device`` runs with: thread pools (0 = one per core), denormals, GPU settings."""
    threading = tf.config.threading
    settings = {
        "intra_op_threads": str(threading.get_intra_op_parallelism_threads()),
        "inter_op_threads": str(threading.get_inter_op_parallelism_threads()),
        "denormals": DENORMALS_CPU if device == "cpu" else DENORMALS_GPU,
    }
    return settings | prepare_gpus()
