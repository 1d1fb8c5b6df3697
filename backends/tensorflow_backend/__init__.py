"""The tensorflow backend plugin: Keras 3 layers in a compiled TensorFlow training step.

Importing this module imports neither TensorFlow nor Keras; ``devices``,
``configure`` and ``build`` import them on first use.

Four implementations: "graph" (Keras layers in ``tf.function``, cuDNN for
LSTM and GRU on a GPU), "xla" (the same with ``jit_compile``), "hoisted"
(the input projection of every step before the loop) and "saved-model", an
export path that does not train (``Implementation.trains`` False): the
network saved as a SavedModel, loaded back and served from it on the CPU
(export.py). The default follows the measured rule of ``default_implementation``.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING

from rnnbench import hookimpl
from rnnbench.backend import Backend, Implementation, ParitySettings, device_kind, installed_versions
from rnnbench.errors import UsageError

if TYPE_CHECKING:
    from rnnbench.backend import InferenceModel
    from rnnbench.params import Params
    from rnnbench.spec import ModelSpec, OptimizerSpec

# Distributions that install the ``tensorflow`` module, most common first.
TF_DISTRIBUTIONS: tuple[str, ...] = (
    "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tensorflow-intel",
    "tf-nightly", "tf-nightly-cpu",
)


# XLA on the CPU only up to this hidden size; see TensorflowBackend.default_implementation.
XLA_CPU_MAX_HIDDEN = 64

# The export path (export.py): a SavedModel served on the CPU; it does not train.
EXPORT = "saved-model"
EXPORT_DTYPES = ("float32", "float64")  # Keras' mixed-precision policies are not exported

IMPLEMENTATIONS = (
    Implementation("graph", "Keras SimpleRNN/LSTM/GRU in tf.function on the graph executor (tf.while_loop); "
                   "Keras' cuDNN kernel for LSTM and GRU on a GPU"),
    Implementation("xla", "the same Keras layers in tf.function(jit_compile=True): the step loop compiled by XLA; "
                   "cuDNN off on a GPU (XLA cannot compile it)"),
    Implementation("hoisted", "the Keras layers' math with the input projection of all steps as one matmul "
                   "before the loop, then tf.scan over the recurrence, on the graph executor (no XLA, no cuDNN)"),
    Implementation(EXPORT, "predict and the streaming step each a tf.function saved as a SavedModel "
                   "(tf.saved_model.save), loaded back (tf.saved_model.load) and called through its serving "
                   "signature", ("cpu",), trains=False),
)


class TensorflowBackend(Backend):
    name = "tensorflow"
    description = "TensorFlow/Keras 3 SimpleRNN/LSTM/GRU in a compiled training step"
    requires = ("tensorflow", "keras")
    framework = "tensorflow"
    install_hint = 'pip install "rnnbench[tensorflow]"'
    # mixed: Keras' "mixed_bfloat16" / "mixed_float16" dtype policies; tf32: TensorFloat-32 on GPUs only
    dtypes = ("float32", "float64", "mixed_bfloat16", "mixed_float16", "tf32")

    def versions(self) -> dict[str, str]:
        """The installed TensorFlow distribution (tensorflow, tensorflow-cpu, ...) and Keras."""
        found = installed_versions(TF_DISTRIBUTIONS)
        if not found:  # another build (intel-tensorflow, ...): ask which distribution ships the module (slower)
            found = installed_versions(importlib.metadata.packages_distributions().get("tensorflow", []))
        return found | installed_versions(("keras",))

    def devices(self) -> list[str]:
        from . import runtime

        return ["cpu", *runtime.gpu_names()]

    def flushes_denormals(self, device: str) -> bool:
        return False  # the CPU's op threads always flush (FTZ/DAZ); GPU kernels as compiled

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        from . import runtime

        return runtime.configure(settings)

    def implementations(self) -> tuple[Implementation, ...]:
        return IMPLEMENTATIONS

    def default_implementation(self, device: str, spec: ModelSpec | None = None) -> str:
        """"xla" or "graph" for ``spec`` on ``device``; "graph" when the spec is not known.

        GPU: as Keras' own ``compile(jit_compile="auto")``: XLA unless a cuDNN layer
        (LSTM, GRU) runs, since cuDNN ops cannot be XLA-compiled. CPU: by hidden
        size, as measured on 2 cores (train step, graph time / XLA time, all three
        cells): H=32 (IMDB, T=500, B=128) 1.9-2.9x; H=64 (T=96, B=32) 1.5-2.5x;
        H=128 (char lm, T=100, B=64) 0.5-0.9x; H=256 0.7-0.8x; H=512 0.85-0.98x.
        Small per-step matmuls leave the graph executor's per-op overhead
        dominant, which XLA's fusion removes; large ones are matmul-bound and
        XLA's CPU matmuls are slower than oneDNN's.
        """
        if spec is None:
            return "graph"
        if device_kind(device) == "gpu":
            return "xla" if spec.cell == "rnn" else "graph"
        return "xla" if spec.hidden_size <= XLA_CPU_MAX_HIDDEN else "graph"

    def default_rule(self, device: str) -> str:
        if device_kind(device) == "gpu":
            return "xla for rnn (SimpleRNN has no cuDNN kernel), else graph (cuDNN for lstm, gru)"
        return f"xla when hidden_size <= {XLA_CPU_MAX_HIDDEN}, else graph"

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        """A ``Model`` that trains, or for "saved-model" an ``InferenceModel`` served from a SavedModel."""
        from . import runtime

        accepted = self.devices()
        if device not in accepted:
            raise UsageError(f"device {device!r} is not available to tensorflow. Accepted: {', '.join(accepted)}")
        implementation = self.checked_implementation(device, spec)
        settings = runtime.model_settings(device, spec.tf32)  # GPU memory growth: before Keras starts the GPUs
        if implementation == EXPORT:
            return _export_model(spec, params, settings)
        from .model import TensorflowModel

        return TensorflowModel(spec, params, optimizer, device, implementation, settings)


def _export_model(spec: ModelSpec, params: Params, settings: dict[str, str]) -> InferenceModel:
    """The export path's model; UsageError for a precision it does not export."""
    if spec.precision not in EXPORT_DTYPES:
        raise UsageError(f"Implementation {EXPORT!r} of backend 'tensorflow' does not export {spec.precision}. "
                         f"Accepted: {', '.join(EXPORT_DTYPES)}")
    from .export import SavedModelExport

    return SavedModelExport(spec, params, settings)


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [TensorflowBackend]
