"""The "exported" implementation: the scan network shipped as ``jax.export`` artifacts, inference only.

Imported only from ``JaxBackend.build`` (it imports jax). ``predict`` and the
streaming ``step`` are each one artifact, made on the first call that needs
it: ``jax.export.export(jax.jit(f), platforms=("cpu",))`` of model.py's own
``inference_functions`` (the network of the "scan" implementation), traced
with a symbolic batch ``b`` and, for ``predict``, a symbolic time ``t``, so
one artifact serves every shape. It is serialised to bytes
(``Exported.serialize``, StableHLO plus its calling convention), and only
what ``jax.export.deserialize`` loads back computes: ``jax.jit(Exported.call)``
compiles it for each concrete input shape, once.

The parameters are inputs of both artifacts (the ``layout`` pytree), so
``set_params`` swaps arrays and never exports again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from rnnbench.backend import InferenceModel, RuntimeInfo
from rnnbench.kit import model_inputs
from rnnbench.params import Params, State
from rnnbench.spec import ModelSpec

from . import net as jax_net
from .layout import Tree, from_carries, from_tree, to_carries, to_tree
from .model import inference_functions

PLATFORMS = ("cpu",)  # what the artifacts are lowered for; the implementation runs on the CPU only
LOOP = jax_net.Loop(hoist=False)  # the "scan" implementation's network
PREDICT, STEP = "predict", "step"  # the two artifacts
IDS = np.int32  # token ids: XLA's native index type, as in JaxModel


@dataclass(frozen=True)
class Artifact:
    """One exported function: the bytes a user would ship, and what loading them gave back."""

    serialized: bytes  # Exported.serialize(): StableHLO and the calling convention
    loaded: jax.export.Exported  # jax.export.deserialize(serialized)
    call: Callable[..., Any]  # jax.jit(loaded.call): one XLA compile per concrete input shape
    seconds: float  # export + serialise + deserialise, time.perf_counter


def export_artifact(function: Callable[..., Any], *shapes: Any) -> Artifact:
    """``function`` exported for ``shapes`` (pytrees of ShapeDtypeStruct), serialised, and loaded back."""
    start = time.perf_counter()
    exported = jax.export.export(jax.jit(function), platforms=PLATFORMS)(*shapes)
    serialized = bytes(exported.serialize())
    loaded = jax.export.deserialize(bytearray(serialized))
    return Artifact(serialized, loaded, jax.jit(loaded.call), time.perf_counter() - start)


def _abstract(tree: Any) -> Any:
    """The ShapeDtypeStruct of every array of ``tree``."""
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)


def _x_shape(spec: ModelSpec, *dims: Any) -> jax.ShapeDtypeStruct:
    """x over ``dims`` (batch, and time for a sequence): ids, or floats with F features last."""
    if spec.embedded:
        return jax.ShapeDtypeStruct(dims, IDS)
    return jax.ShapeDtypeStruct((*dims, spec.input_features), np.dtype(spec.dtype))


def _carry_shapes(spec: ModelSpec, batch: Any) -> list[Any]:
    """Each layer's carry at batch size ``batch``: h, or (h, c) for the LSTM, each (batch, H)."""
    h = jax.ShapeDtypeStruct((batch, spec.hidden_size), np.dtype(spec.dtype))
    return [(h, h) if spec.cell == "lstm" else h for _ in range(spec.num_layers)]


def _export(spec: ModelSpec, tree: Tree, kind: str) -> Artifact:
    """The artifact ``kind`` (PREDICT or STEP) of ``spec``'s network, with a symbolic batch (and time)."""
    predict, stream = inference_functions(spec, LOOP)
    batch, steps = jax.export.symbolic_shape("b, t")  # one scope: the step's x and carries share b
    if kind == PREDICT:
        return export_artifact(predict, _abstract(tree), _x_shape(spec, batch, steps))
    return export_artifact(stream, _abstract(tree), _x_shape(spec, batch), _carry_shapes(spec, batch))


class ExportedModel(InferenceModel):
    """``spec``'s network computed only by its deserialised ``jax.export`` artifacts, on the CPU."""

    def __init__(self, spec: ModelSpec, params: Params, device: jax.Device, settings: dict[str, str]) -> None:
        self.spec = spec
        self.device = device
        self._settings = settings  # the backend's; runtime_info adds what has been exported
        self._artifacts: dict[str, Artifact] = {}  # made on first use (the first call carries the cost)
        self._tree: Tree = {}
        self.set_params(params)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.array(self._artifact(PREDICT).call(self._tree, *model_inputs(self.spec, x, ids=IDS)))

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        out, carries = self._artifact(STEP).call(self._tree, *model_inputs(self.spec, x, ids=IDS),
                                                 to_carries(self.spec, state))
        return np.array(out), from_carries(self.spec, carries)

    def get_params(self) -> Params:
        return from_tree(self.spec, self._tree)

    def set_params(self, params: Params) -> None:
        # The parameters are the artifacts' inputs: new arrays, the same artifacts and compiled programs.
        self._tree = jax.device_put(to_tree(self.spec, params), self.device)

    def synchronize(self) -> None:
        jax.block_until_ready(self._tree)

    def runtime_info(self) -> RuntimeInfo:
        kernel_path = (f"jax.export (StableHLO, serialised) of the jax scan network, deserialised and called "
                       f"({self.device.platform}, {self.spec.dtype})")
        return RuntimeInfo(kernel_path, self._settings | {"export": self._export_summary()})

    def _artifact(self, kind: str) -> Artifact:
        if kind not in self._artifacts:
            self._artifacts[kind] = _export(self.spec, self._tree, kind)
        return self._artifacts[kind]

    def _export_summary(self) -> str:
        how = ("predict (symbolic batch b and time t) and step (symbolic b), each on first use: "
               f"jax.export.export(jax.jit(f), platforms={PLATFORMS}) with the parameters as inputs, "
               "Exported.serialize() to bytes, jax.export.deserialize, jax.jit(Exported.call) compiling once "
               "per input shape")
        done = [f"{kind} {a.seconds:.3f} s ({len(a.serialized)} bytes)" for kind, a in self._artifacts.items()]
        return f"{how}; exported+serialised+loaded: {', '.join(done) or 'nothing yet'}"
