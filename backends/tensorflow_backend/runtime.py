"""Process-wide TensorFlow settings: threads, GPUs, denormals.

Imported lazily by TensorflowBackend (importing it imports TensorFlow).
"""

from __future__ import annotations

import tensorflow as tf

from rnnbench.backend import ParitySettings
from rnnbench.errors import UsageError

from . import XLA_CPU_MAX_HIDDEN

# TensorFlow's executor and XLA set FTZ/DAZ on their CPU op threads and offer no switch
# to keep denormals (checked: 1e-30 * 1e-10 gives 0 in eager, tf.function and XLA).
DENORMALS_CPU = "flushed to zero (TensorFlow sets FTZ/DAZ on its op threads; not configurable)"
DENORMALS_GPU = "as each CUDA kernel was compiled (not set by rnnbench)"


def gpu_names() -> list[str]:
    """rnnbench names of the visible GPUs: gpu:0, gpu:1, ..."""
    return [f"gpu:{i}" for i, _ in enumerate(tf.config.list_physical_devices("GPU"))]


def prepare_gpus(tf32: bool = False) -> dict[str, str]:
    """Memory growth on every GPU, and float32 matmuls in full float32 (TF32 only for the "tf32" precision).

    Growth lets each GPU's allocator take memory on demand, so its peak counter
    reflects real use; it must be set before TF initialises the GPUs, and what
    is in force is reported either way. TensorFlow runs float32 matmuls and
    cuDNN RNNs in TensorFloat-32 on Ampere and later by default (about 3
    decimal digits); that is a different function from the float32 reference,
    so it is switched off unless ``tf32`` asks for it (a process-wide switch: one model per worker).
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
    tf.config.experimental.enable_tensor_float_32_execution(tf32)
    return {"gpu_memory_growth": ", ".join(growth), "tf32": "on" if tf32 else "off"}


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
        "xla": f"by implementation: xla on; graph, hoisted off. Default: xla on the CPU when hidden_size <= "
               f"{XLA_CPU_MAX_HIDDEN}, on a GPU for SimpleRNN (no cuDNN kernel)",
        "fused_kernel": "cuDNN for LSTM/GRU on a GPU in the graph implementation; none on the CPU",
    }
    applied.update(prepare_gpus())
    return applied


def model_settings(device: str, tf32: bool = False) -> dict[str, str]:
    """What a model on ``device`` runs with: thread pools (0 = one per core), denormals, GPU settings."""
    threading = tf.config.threading
    settings = {
        "intra_op_threads": str(threading.get_intra_op_parallelism_threads()),
        "inter_op_threads": str(threading.get_inter_op_parallelism_threads()),
        "denormals": DENORMALS_CPU if device == "cpu" else DENORMALS_GPU,
    }
    return settings | prepare_gpus(tf32)
