"""``OrtModel``: the ONNX graph in an ONNX Runtime session on the CPU."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from rnnbench.backend import RuntimeInfo
from rnnbench.params import Params
from rnnbench.spec import ModelSpec

from ..onnx_graph.model import GraphModel
from . import runtime

PROVIDER = "CPUExecutionProvider"


class OrtModel(GraphModel):
    """One network as an ONNX Runtime inference session."""

    def __init__(self, spec: ModelSpec, params: Params, implementation: str, level: str) -> None:
        self.implementation, self.level = implementation, level
        super().__init__(spec, params)

    def compile(self, model: onnx.ModelProto) -> None:
        self._session = ort.InferenceSession(model.SerializeToString(), runtime.session_options(self.level),
                                             providers=[PROVIDER])

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        return self._session.run(outputs, feeds)  # fresh arrays, owned by the caller

    def runtime_info(self) -> RuntimeInfo:
        options = self._session.get_session_options()
        settings = {"implementation": self.implementation, "graph_optimization_level": self.level,
                    "providers": ",".join(self._session.get_providers()),
                    "intra_op_threads": str(options.intra_op_num_threads), **runtime.APPLIED}
        return RuntimeInfo(f"onnxruntime {ort.__version__}: ONNX {self.spec.cell.upper()} operator "
                           f"({PROVIDER}, {self.level})", settings)
