"""The "saved-model" implementation: the Keras network exported as a TensorFlow SavedModel and served from it.

What a TensorFlow user ships to TF Serving: a ``tf.Module`` holding the
network's variables (model.py's ``build_network``, weights from the
canonical parameters through layout.py, cuDNN off: CPU only) and a
``tf.function`` with an input signature, saved with ``tf.saved_model.save``
to a temporary directory, loaded back with ``tf.saved_model.load`` and
called through the loaded object's ``serving_default`` signature, as TF
Serving calls it. The Keras network exists only while the function is
traced and saved; the loaded graph computes every output.

Two artifacts, each exported on the first call that needs it and cached:
predict's (model.py's ``network_output``) and the streaming step's
(``network_step``, the states as flat named inputs and outputs, canonical
names). Batch and time dimensions are None in the signatures, so one export
serves every shape. The weights are saved as the SavedModel's variables;
``set_params`` drops both artifacts, so the next call exports again.

Imported only by TensorflowBackend.build: importing it imports TensorFlow.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from rnnbench.backend import InferenceModel, RuntimeInfo
from rnnbench.kit import model_inputs
from rnnbench.params import Params, State, check_params, copy_params, state_shapes
from rnnbench.spec import ModelSpec

from . import EXPORT
from .layout import to_keras
from .model import build_network, network_output, network_step

KINDS = ("predict", "step")  # the exported functions, one SavedModel each
SIGNATURE = "serving_default"  # the signature TF Serving calls when a request names none
OUTPUT = "output"  # the head's output among a signature's outputs
CPU = "/CPU:0"


@dataclass(frozen=True)
class Artifact:
    """One loaded SavedModel and where it lies; ``export`` has its directory removed when the artifact is dropped."""

    path: Path  # the SavedModel directory (saved_model.pb, variables/) the loader read
    loaded: object  # what tf.saved_model.load returned
    serve: Callable[..., dict[str, tf.Tensor]]  # its serving signature: named tensors in, named tensors out
    seconds: float  # building the network, tracing, saving and loading (time.perf_counter)


def input_spec(spec: ModelSpec, sequence: bool) -> tf.TensorSpec:
    """x of a whole sequence, (B, T) ids or (B, T, F), or of one step, (B,) or (B, F); B and T None."""
    steps = (None,) if sequence else ()
    if spec.embedded:
        return tf.TensorSpec((None, *steps), tf.int32, name="x")
    return tf.TensorSpec((None, *steps, spec.input_features), spec.dtype, name="x")


def state_names(spec: ModelSpec) -> list[str]:
    """The state's inputs and outputs in layout order: the canonical names, "l0.h" as "l0_h" (tf.function
    parameter names are Python identifiers)."""
    return [name.replace(".", "_") for name in state_shapes(spec, 1)]


def serving_function(spec: ModelSpec, net: keras.Sequential, kind: str) -> tf.types.experimental.GenericFunction:
    """predict(x) -> {output}, or step(x, *state) -> {output, *state}: the state flat, in layout order."""
    if kind == "predict":
        return tf.function(lambda x: {OUTPUT: network_output(spec, net, x)}, input_signature=[input_spec(spec, True)])
    names = state_names(spec)
    per_layer = len(names) // spec.num_layers  # [h], or [h, c] for the LSTM

    def step(x: tf.Tensor, *flat: tf.Tensor) -> dict[str, tf.Tensor]:
        states = [list(flat[k:k + per_layer]) for k in range(0, len(flat), per_layer)]
        out, new = network_step(spec, net, x, states)
        return {OUTPUT: out} | dict(zip(names, [s for layer in new for s in layer], strict=True))

    state_specs = [tf.TensorSpec((None, spec.hidden_size), spec.dtype, name=name) for name in names]
    return tf.function(step, input_signature=[input_spec(spec, False), *state_specs])


def export(spec: ModelSpec, params: Params, kind: str) -> Artifact:
    """The ``kind`` function of the network with ``params`` saved as a SavedModel, and loaded back."""
    start = time.perf_counter()
    path = Path(tempfile.mkdtemp(prefix=f"rnnbench-tf-{kind}-"))
    with tf.device(CPU):
        net = build_network(spec, use_cudnn=False)
        for layer, weights in zip(net.layers, to_keras(spec, params), strict=True):
            layer.set_weights(weights)
        module = tf.Module()
        module.net = net  # tracked: its variables are saved with the function
        module.serve = serving_function(spec, net, kind)
        tf.saved_model.save(module, str(path), signatures={SIGNATURE: module.serve})
    del module, net  # the eager network is gone: only the loaded graph computes
    loaded = tf.saved_model.load(str(path))
    artifact = Artifact(path, loaded, loaded.signatures[SIGNATURE], time.perf_counter() - start)
    # Not a TemporaryDirectory: its implicit cleanup warns (ResourceWarning), and the directory goes with the artifact
    weakref.finalize(artifact, shutil.rmtree, path, ignore_errors=True)
    return artifact


class SavedModelExport(InferenceModel):
    """``spec`` served from SavedModels of the Keras network on the CPU; canonical parameters kept for export."""

    def __init__(self, spec: ModelSpec, params: Params, settings: dict[str, str]) -> None:
        self.spec = spec
        self._settings = settings
        self._artifacts: dict[str, Artifact] = {}  # by kind, exported on first use
        # The canonical state names and the signature's, once: a step call only looks them up.
        self._state_names = dict(zip(state_shapes(spec, 1), state_names(spec), strict=True))
        self.set_params(params)

    def _artifact(self, kind: str) -> Artifact:
        if kind not in self._artifacts:
            self._artifacts[kind] = export(self.spec, self._params, kind)
        return self._artifacts[kind]

    def _tensor(self, a: np.ndarray) -> tf.Tensor:
        return tf.convert_to_tensor(np.ascontiguousarray(a, self.spec.dtype))

    def predict(self, x: np.ndarray) -> np.ndarray:
        serve = self._artifact("predict").serve
        with tf.device(CPU):  # the caller places the loaded graph, as a server does
            return serve(x=tf.convert_to_tensor(model_inputs(self.spec, x, ids=np.int32)[0]))[OUTPUT].numpy()

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        serve, names = self._artifact("step").serve, self._state_names
        states = {names[name]: self._tensor(value) for name, value in state.items()}
        with tf.device(CPU):
            outputs = serve(x=tf.convert_to_tensor(model_inputs(self.spec, x, ids=np.int32)[0]), **states)
        return outputs[OUTPUT].numpy(), {name: outputs[key].numpy() for name, key in names.items()}

    def get_params(self) -> Params:
        return copy_params(self._params)

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        self._params = copy_params(params, self.spec.dtype)
        self._artifacts.clear()  # the saved variables hold the old weights: export again on the next call

    def runtime_info(self) -> RuntimeInfo:
        layer = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU(reset_after=True)"}[self.spec.cell]
        path = (f"tf.saved_model.save (SavedModel, tf.function with input signatures) of the keras {layer} "
                f"network, tf.saved_model.load and its {SIGNATURE} signature called (tf.while_loop, TF graph "
                f"executor; cpu, {self.spec.dtype})")
        settings = dict(self._settings, implementation=EXPORT, device="cpu", jit_compile="False", cudnn="False",
                        keras=keras.__version__, export=self._export_summary())
        return RuntimeInfo(kernel_path=path, settings=settings)

    def _export_summary(self) -> str:
        done = "; ".join(f"{kind} exported+saved+loaded in {self._artifacts[kind].seconds:.3f} s"
                         if kind in self._artifacts else f"{kind} not exported yet" for kind in KINDS)
        return ("predict(x) and step(x, *state) each a tf.function (batch and time None) on a tf.Module holding "
                "the Keras network's variables, tf.saved_model.save to a temporary directory, tf.saved_model.load, "
                f"on first use; {done}")
