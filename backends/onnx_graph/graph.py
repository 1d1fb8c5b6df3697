"""A ModelSpec as one ONNX model, whole sequences and streaming steps alike.

Inputs: ``x`` (B, T) int64 ids or (B, T, F) floats, and the state the
sequence starts from, one input per canonical state array (``state.l0.h``,
``state.l0.c`` ... each (B, H)). Outputs: ``output`` ((B, T, O) for lm,
(B, O) from the last step otherwise) and the state after the last step
(``next.l0.h`` ...). ``predict`` feeds the zero state; a streaming step feeds
T = 1 and the carried state. B and T are dynamic.

The recurrent layers are ONNX's fused ``RNN``/``GRU``/``LSTM`` operators
(time-major: the input is transposed once, before the first layer; ONNX
Runtime's CPU kernels do not take ``layout=1``).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnnbench.params import Params, state_shapes
from rnnbench.spec import ModelSpec

from .layout import layer_weights

OPSET = 17  # every operator used here is at its latest form by 14; 17 is read by ONNX Runtime and OpenVINO alike
IR_VERSION = 8  # the IR of opset 17, so older readers accept the file too
OPERATORS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
ELEMENT_TYPE = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


def state_input(name: str) -> str:
    return f"state.{name}"


def state_output(name: str) -> str:
    return f"next.{name}"


def build_model(spec: ModelSpec, params: Params) -> onnx.ModelProto:
    """The checked ONNX model of ``spec`` computing with ``params`` (cast to the spec's dtype)."""
    nodes: list[onnx.NodeProto] = []
    weights: dict[str, np.ndarray] = {"axis0": np.array([0], np.int64), "axis1": np.array([1], np.int64)}
    element = ELEMENT_TYPE[spec.dtype]
    inputs = [_x_input(spec, element)] + [
        helper.make_tensor_value_info(state_input(n), element, ["batch", spec.hidden_size])
        for n in state_shapes(spec, 1)]
    if spec.embedded:
        weights["embedding"] = params["embedding"]
        nodes.append(helper.make_node("Gather", ["embedding", "x"], ["embedded"], axis=0))  # (B, T, E)
    nodes.append(helper.make_node("Transpose", ["embedded" if spec.embedded else "x"], ["layer0.in"],
                                  perm=[1, 0, 2]))  # (T, B, I)
    sequence = "layer0.in"
    for k in range(spec.num_layers):
        sequence = _layer(spec, params, k, sequence, nodes, weights)
    _head(spec, params, sequence, nodes, weights)
    outputs = [_output(spec, element)] + [
        helper.make_tensor_value_info(state_output(n), element, ["batch", spec.hidden_size])
        for n in state_shapes(spec, 1)]
    initializers = [numpy_helper.from_array(np.ascontiguousarray(
        value if value.dtype == np.int64 else value.astype(spec.dtype)), name) for name, value in weights.items()]
    graph = helper.make_graph(nodes, f"rnnbench-{spec.cell}-{spec.head}", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rnnbench",
                              ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model


def _x_input(spec: ModelSpec, element: int) -> onnx.ValueInfoProto:
    if spec.embedded:
        return helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", "steps"])
    return helper.make_tensor_value_info("x", element, ["batch", "steps", spec.input_features])


def _output(spec: ModelSpec, element: int) -> onnx.ValueInfoProto:
    shape = ["batch", spec.output_size] if spec.head != "lm" else ["batch", "steps", spec.output_size]
    return helper.make_tensor_value_info("output", element, shape)


def _layer(spec: ModelSpec, params: Params, k: int, sequence: str, nodes: list[onnx.NodeProto],
           weights: dict[str, np.ndarray]) -> str:
    """Layer k over ``sequence`` (T, B, I): its fused operator, from the carried state; returns (T, B, H)."""
    hidden, prefix = spec.hidden_size, f"l{k}"
    weights[f"{prefix}.W"], weights[f"{prefix}.R"], weights[f"{prefix}.B"] = layer_weights(
        spec.cell, params, k, hidden)
    initial = [f"{prefix}.h0"]
    nodes.append(helper.make_node("Unsqueeze", [state_input(f"{prefix}.h"), "axis0"], [f"{prefix}.h0"]))
    outputs = [f"{prefix}.Y", f"{prefix}.Y_h"]
    if spec.cell == "lstm":
        initial.append(f"{prefix}.c0")
        nodes.append(helper.make_node("Unsqueeze", [state_input(f"{prefix}.c"), "axis0"], [f"{prefix}.c0"]))
        outputs.append(f"{prefix}.Y_c")
    extra = {"linear_before_reset": 1} if spec.cell == "gru" else {}
    # Inputs: X, W, R, B, sequence_lens (none: every sequence is T long), initial_h[, initial_c].
    nodes.append(helper.make_node(OPERATORS[spec.cell], [sequence, f"{prefix}.W", f"{prefix}.R", f"{prefix}.B", "",
                                                          *initial], outputs, hidden_size=hidden, **extra))
    nodes.append(helper.make_node("Squeeze", [f"{prefix}.Y", "axis1"], [f"{prefix}.out"]))  # (T, 1, B, H) -> (T, B, H)
    nodes.append(helper.make_node("Squeeze", [f"{prefix}.Y_h", "axis0"], [state_output(f"{prefix}.h")]))
    if spec.cell == "lstm":
        nodes.append(helper.make_node("Squeeze", [f"{prefix}.Y_c", "axis0"], [state_output(f"{prefix}.c")]))
    return f"{prefix}.out"


def _head(spec: ModelSpec, params: Params, sequence: str, nodes: list[onnx.NodeProto],
          weights: dict[str, np.ndarray]) -> None:
    """The head: every step's logits (B, T, O) for lm, the last step's (B, O) otherwise."""
    weights["head.wT"], weights["head.b"] = params["head.w"].T, params["head.b"]
    if spec.head == "lm":
        nodes.append(helper.make_node("Transpose", [sequence], ["top"], perm=[1, 0, 2]))  # (B, T, H)
    else:
        nodes.append(helper.make_node("Identity", [state_output(f"l{spec.num_layers - 1}.h")], ["top"]))  # (B, H)
    nodes.append(helper.make_node("MatMul", ["top", "head.wT"], ["projected"]))
    nodes.append(helper.make_node("Add", ["projected", "head.b"], ["output"]))
