"""``OpenVinoModel``: the ONNX graph compiled by OpenVINO's CPU plugin, run through one infer request."""

from __future__ import annotations

import numpy as np
import onnx
import openvino as ov

from rnnbench.backend import RuntimeInfo
from rnnbench.params import Params
from rnnbench.spec import ModelSpec

from ..onnx_graph.model import GraphModel
from . import runtime

DEVICE = "CPU"
READ_BACK = ("PERFORMANCE_HINT", "INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS",
             "CPU_DENORMALS_OPTIMIZATION")  # what the compiled model says it runs with, recorded


class OpenVinoModel(GraphModel):
    """One network compiled by OpenVINO, called synchronously (a service answering one request at a time)."""

    def __init__(self, spec: ModelSpec, params: Params, implementation: str, hint: str) -> None:
        self.implementation, self.hint = implementation, hint
        super().__init__(spec, params)

    def compile(self, model: onnx.ModelProto) -> None:
        core = runtime.core()
        self._compiled = core.compile_model(core.read_model(model.SerializeToString()), DEVICE,
                                            runtime.compile_properties(self.spec, self.hint))
        self._request = self._compiled.create_infer_request()

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        results = self._request.infer(feeds)
        # The request's output tensors are reused by its next call: copy what the caller keeps.
        return [np.array(results[name], copy=True) for name in outputs]

    def runtime_info(self) -> RuntimeInfo:
        settings = {"implementation": self.implementation, **runtime.APPLIED,
                    **{key.lower(): _text(self._compiled.get_property(key)) for key in READ_BACK}}
        return RuntimeInfo(f"openvino {ov.get_version()}: {self.spec.cell.upper()}Sequence on the CPU plugin "
                           f"({self.hint.lower()} hint, {settings['inference_precision_hint']})", settings)


def _text(value: object) -> str:
    """A property as its short name: an element type as "f32", an enum as "LATENCY", the rest as str()."""
    if isinstance(value, ov.Type):
        return value.get_type_name()
    return str(getattr(value, "name", value))
