"""``GraphModel``: an ``InferenceModel`` over the ONNX graph of ``graph``, whichever runtime runs it.

A runtime's model says how the graph is compiled (``compile``) and run
(``run``); feeding the inputs, the zero state of a whole sequence and the
streaming step's reshaping are the same for every runtime, so they are here.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import onnx

from rnnbench.backend import InferenceModel
from rnnbench.params import Params, State, check_params, copy_params, state_shapes, zero_state
from rnnbench.spec import ModelSpec

from .graph import build_model, state_input, state_output

OUTPUT = "output"


class GraphModel(InferenceModel):
    """One ModelSpec's ONNX graph, compiled by a runtime; parameters kept canonical for ``get_params``."""

    def __init__(self, spec: ModelSpec, params: Params) -> None:
        self.spec = spec
        self._zero: dict[int, State] = {}  # the zero state per batch size, made once
        self.set_params(params)

    @abstractmethod
    def compile(self, model: onnx.ModelProto) -> None:
        """Make the runtime's executable of ``model``; called again whenever the parameters change."""

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """The named outputs of one run on ``feeds``, as NumPy arrays the caller may keep."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        # Not validated per call, as the framework backends' predict is not: the core checks each case's batch
        # once (rnnbench.kit.check_batch), and a check here would be timed as this runtime's latency.
        return self.run(self._feeds(x, self._zero_state(len(x))), [OUTPUT])[0]

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        names = list(state_shapes(self.spec, 1))
        output, *after = self.run(self._feeds(np.asarray(x)[:, None], state),
                                  [OUTPUT, *(state_output(name) for name in names)])
        return (output[:, 0] if self.spec.head == "lm" else output), dict(zip(names, after, strict=True))

    def get_params(self) -> Params:
        return copy_params(self._params)

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        self._params = copy_params(params, self.spec.dtype)
        self.compile(build_model(self.spec, self._params))

    def _zero_state(self, batch: int) -> State:
        if batch not in self._zero:
            self._zero[batch] = zero_state(self.spec, batch)
        return self._zero[batch]

    def _feeds(self, x: np.ndarray, state: State) -> dict[str, Any]:
        """The graph's inputs: ids as int64 (the Gather's index type), floats and states in the spec's dtype."""
        x = np.ascontiguousarray(x, np.int64 if self.spec.embedded else self.spec.dtype)
        return {"x": x} | {state_input(name): np.ascontiguousarray(value, self.spec.dtype)
                           for name, value in state.items()}
