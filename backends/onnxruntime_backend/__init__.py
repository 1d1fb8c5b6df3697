"""The ONNX Runtime backend: the network as one ONNX graph, run by ONNX Runtime's CPU execution provider.

An inference runtime (``trains = False``): it computes outputs and streaming
steps, never gradients. The graph (``rnnbench.backends.onnx_graph``) is
built from the canonical parameters with the ``onnx`` package; its
recurrent layers are ONNX's fused ``RNN``/``GRU``/``LSTM`` operators. The
implementations are ONNX Runtime's graph optimisation levels. ONNX
Runtime's CPU kernels for these operators are float32 only.
"""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backend import Backend, Implementation, InferenceModel, ParitySettings, installed_versions
from rnnbench.errors import UsageError
from rnnbench.params import Params
from rnnbench.spec import ModelSpec, OptimizerSpec

__all__ = ["OnnxRuntimeBackend", "rnnbench_register_backends"]

# Implementation name -> ONNX Runtime's GraphOptimizationLevel, the default (ONNX Runtime's own) first.
LEVELS = {"full": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED", "basic": "ORT_ENABLE_BASIC"}


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime, CPU execution provider, float32; inference only."""

    name = "onnxruntime"
    description = "ONNX Runtime (CPU execution provider) running the ONNX graph; inference only"
    requires = ("onnxruntime", "onnx")
    framework = "onnxruntime"
    install_hint = 'pip install "rnnbench[onnxruntime]"'
    dtypes = ("float32",)  # ONNX Runtime's RNN, GRU and LSTM CPU kernels are float32 only
    trains = False

    def versions(self) -> dict[str, str]:
        return installed_versions(("onnxruntime", "onnx"))

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        from . import runtime

        return runtime.configure(settings)

    def implementations(self) -> tuple[Implementation, ...]:
        return (Implementation("full", "every graph optimisation (ORT_ENABLE_ALL, ONNX Runtime's default)", ("cpu",)),
                Implementation("extended", "basic and extended fusions (ORT_ENABLE_EXTENDED)", ("cpu",)),
                Implementation("basic", "constant folding and redundant-node removal only (ORT_ENABLE_BASIC)",
                               ("cpu",)))

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        if device != "cpu":
            raise UsageError(f"Device {device!r} is not supported by the onnxruntime backend. Accepted: cpu")
        implementation = self.checked_implementation(device, spec)
        from .model import OrtModel

        return OrtModel(spec, params, implementation, LEVELS[implementation])


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [OnnxRuntimeBackend]
