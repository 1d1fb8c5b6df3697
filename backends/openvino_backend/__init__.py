"""The OpenVINO backend: the network's ONNX graph, read and compiled by OpenVINO's CPU plugin.

An inference runtime (``trains = False``). The graph is the one the
``onnxruntime`` backend runs (``rnnbench.backends.onnx_graph``); OpenVINO
reads it from memory, turns ONNX's recurrent operators into its own
``RNNSequence``/``GRUSequence``/``LSTMSequence`` and compiles it through its
own API. The implementations are OpenVINO's performance hints. float32 is
computed as float32 (the CPU plugin's default on CPUs with bfloat16 units is
bfloat16, so the precision is always set); ``mixed_bfloat16`` is the plugin's
bfloat16 inference precision.
"""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.backend import Backend, Implementation, InferenceModel, ParitySettings, installed_versions
from rnnbench.errors import UsageError
from rnnbench.params import Params
from rnnbench.spec import ModelSpec, OptimizerSpec

__all__ = ["OpenVinoBackend", "rnnbench_register_backends"]

# Implementation name -> OpenVINO's PERFORMANCE_HINT, the default first.
HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT"}


class OpenVinoBackend(Backend):
    """OpenVINO's CPU plugin, float32 or bfloat16 inference; inference only."""

    name = "openvino"
    description = "OpenVINO (CPU plugin) compiling the ONNX graph; inference only"
    requires = ("openvino", "onnx")
    framework = "openvino"
    install_hint = 'pip install "rnnbench[openvino]"'
    dtypes = ("float32", "mixed_bfloat16")
    trains = False

    def versions(self) -> dict[str, str]:
        return installed_versions(("openvino", "onnx"))

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        from . import runtime

        return runtime.configure(settings)

    def implementations(self) -> tuple[Implementation, ...]:
        return (Implementation("latency", "PERFORMANCE_HINT LATENCY: one stream, every thread on one request",
                               ("cpu",)),
                Implementation("throughput", "PERFORMANCE_HINT THROUGHPUT: the plugin's streams for parallel "
                               "requests", ("cpu",)))

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        if device != "cpu":
            raise UsageError(f"Device {device!r} is not supported by the openvino backend. Accepted: cpu")
        implementation = self.checked_implementation(device, spec)
        from .model import OpenVinoModel

        return OpenVinoModel(spec, params, implementation, HINTS[implementation])


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [OpenVinoBackend]
