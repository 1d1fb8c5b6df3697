"""One Keras 3 network trained by a compiled TensorFlow step.

The network is the one a Keras user writes: ``keras.Sequential`` of
Embedding (token input), stacked SimpleRNN / LSTM / GRU(reset_after=True)
layers and a Dense head. Training is a ``tf.function`` with a GradientTape,
the documented loss and the torch update rules of optim.py. The
implementation (``TensorflowBackend.implementations``) sets the rest:
"graph" runs the steps on TensorFlow's graph executor, with Keras' cuDNN
kernel for LSTM and GRU on a GPU (as Keras' own ``fit`` does); "xla" adds
``jit_compile`` (cuDNN off, since XLA cannot compile it); "hoisted" replaces
each Keras layer by hoisted.py's, same weights, the input projection of all
steps done before the loop. On the CPU cuDNN is switched off explicitly so
no op can drift onto a GPU. The streaming step is one more tf.function (XLA
for "xla"): each Keras layer's cell on the step from the given states (as
Keras' own loop calls it), or the hoisted layer on a sequence of one step.

SimpleRNN and LSTM keep one bias, the canonical b_ih + b_hh. The model keeps
the pair itself as two small variables: the optimiser updates them, exactly
as the reference updates its two biases (same gradient each, their own
optimiser state, both counted in the clipping norm), and the Keras bias is
reset to their sum after each step. So get_params returns the canonical
parameters, not only their function.

Imported only by TensorflowBackend.build and export.py (the "saved-model"
implementation exports this network): importing it imports TensorFlow.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3 must run on TF here; checked below

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from rnnbench.backend import MemoryStats, Model, RuntimeInfo  # noqa: E402
from rnnbench.errors import RnnbenchError  # noqa: E402
from rnnbench.kit import model_inputs  # noqa: E402
from rnnbench.params import Params, State, check_params, copy_params  # noqa: E402
from rnnbench.spec import LOSS_SCALING, ModelSpec, OptimizerSpec  # noqa: E402

from .hoisted import HoistedRecurrent  # noqa: E402
from .layout import from_cell_states, from_keras, single_bias, to_cell_states, to_keras  # noqa: E402
from .optim import TorchRuleOptimizer  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise RnnbenchError(
        f"Keras runs on {keras.backend.backend()!r} here (KERAS_BACKEND); the tensorflow backend needs "
        "KERAS_BACKEND=tensorflow, or unset, in this process"
    )


def layer_dtype(spec: ModelSpec) -> str:
    """Each layer's Keras dtype policy: the spec's dtype, or "mixed_bfloat16" / "mixed_float16" (float32
    variables, the layer's computation in the 16-bit type: Keras' mixed precision)."""
    return spec.precision


def _recurrent_layer(spec: ModelSpec, sequences: bool, use_cudnn: bool) -> keras.layers.Layer:
    """One Keras recurrent layer; every option that changes the math is written out."""
    common = dict(units=spec.hidden_size, activation="tanh", use_bias=True, return_sequences=sequences,
                  dtype=layer_dtype(spec))
    if spec.cell == "rnn":
        return keras.layers.SimpleRNN(**common)
    cudnn: bool | str = "auto" if use_cudnn else False
    if spec.cell == "lstm":
        return keras.layers.LSTM(recurrent_activation="sigmoid", use_cudnn=cudnn, **common)
    return keras.layers.GRU(recurrent_activation="sigmoid", reset_after=True, use_cudnn=cudnn, **common)


def build_network(spec: ModelSpec, use_cudnn: bool, hoisted: bool = False) -> keras.Sequential:
    """The Keras network of ``spec``: (embedding) -> recurrent layers (Keras' or hoisted.py's) -> Dense head."""
    if spec.embedded:
        layers = [keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(
            int(spec.vocab_size), int(spec.embedding_dim), dtype=layer_dtype(spec))]  # type: ignore[arg-type]
    else:
        layers = [keras.Input(shape=(None, int(spec.input_features)), dtype=spec.dtype)]  # type: ignore[arg-type]
    for k in range(spec.num_layers):
        # lm reads every step; classify/regress read only the last layer's last step
        sequences = spec.head == "lm" or k < spec.num_layers - 1
        if hoisted:
            layers.append(HoistedRecurrent(spec.cell, spec.hidden_size, sequences, dtype=layer_dtype(spec)))
        else:
            layers.append(_recurrent_layer(spec, sequences, use_cudnn))
    layers.append(keras.layers.Dense(spec.output_size, dtype=layer_dtype(spec)))
    return keras.Sequential(layers)


def network_output(spec: ModelSpec, net: keras.Sequential, x: tf.Tensor, training: bool = False) -> tf.Tensor:
    """The network's output in the model dtype (under mixed precision, the head's bfloat16 cast back,
    as Keras' mixed-precision guide has the loss computed in float32)."""
    return tf.cast(net(x, training=training), spec.dtype)


def network_step(spec: ModelSpec, net: keras.Sequential, x: tf.Tensor, states: list[list[tf.Tensor]]
                 ) -> tuple[tf.Tensor, list[list[tf.Tensor]]]:
    """The head's output (B, O) on one step x, (B,) ids or (B, F), and each recurrent layer's new states,
    all in the model dtype (mixed precision: cast back from 16 bits, as ``network_output`` does)."""
    *recurrent, head = net.layers[1:] if spec.embedded else net.layers
    h = net.layers[0](x) if spec.embedded else x  # (B, I)
    new = []
    for layer, carried in zip(recurrent, states, strict=True):
        if isinstance(layer, HoistedRecurrent):  # a sequence of one step: projected, then scanned
            _, carried = layer(h[:, None], initial_state=carried)
        else:
            _, carried = layer.cell(h, carried, training=False)
        new.append([tf.cast(s, spec.dtype) for s in carried])
        h = carried[0]  # (B, H): the new h is the first state of every cell
    return tf.cast(head(h), spec.dtype), new


def loss_fn(head: str, out: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The head's documented loss: a mean over all positions."""
    if head == "lm":  # out (B, T, O) logits, y (B, T) ids
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
    if head == "classify":  # out (B, O) logits, y (B, O) 0/1
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=out))
    return tf.reduce_mean(tf.square(out - y))  # regress: out (B, O), y (B, O)


def _recurrent_bias(layer: keras.layers.Layer) -> tf.Variable | None:
    """The bias variable of a recurrent layer (Keras' or hoisted.py's); None for any other layer."""
    if isinstance(layer, keras.layers.RNN):
        return layer.cell.bias.value
    if isinstance(layer, HoistedRecurrent):
        return layer.bias.value
    return None


class TensorflowModel(Model):
    """``spec`` as Keras layers on one TensorFlow device, trained by compiled steps."""

    def __init__(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str,
                 implementation: str, settings: dict[str, str]) -> None:
        check_params(spec, params)
        self.spec, self.device, self.implementation = spec, device, implementation
        self.jit_compile = implementation == "xla"
        self._tf_device = "/GPU:" + device.split(":")[1] if device.startswith("gpu") else "/CPU:0"
        self._cudnn = implementation == "graph" and device != "cpu" and spec.cell in ("lstm", "gru")
        self._settings = settings
        with tf.device(self._tf_device):
            self.net = build_network(spec, use_cudnn=self._cudnn, hoisted=implementation == "hoisted")
            self._variables = [w.value for layer in self.net.layers for w in layer.trainable_weights]
            self._pairs = self._bias_pairs()
            trained, self._grad_index = self._trained_variables()
            self._optimizer = TorchRuleOptimizer(optimizer, trained)
            # float16 only: the loss scale and the finite steps since it last changed (rnnbench.spec.LOSS_SCALING)
            self._scaled = spec.autocast == "float16"
            self._scale = tf.Variable(LOSS_SCALING.initial, dtype=tf.float32, trainable=False, name="loss_scale")
            self._finite_steps = tf.Variable(0, dtype=tf.int32, trainable=False, name="finite_steps")
        self.set_params(params)
        self._last_loss: tf.Tensor | None = None
        # The timed paths (train_step, predict) get XLA when jit_compile says so. loss_and_grads
        # serves conformance only: plain graph mode, since every XLA-compiled function keeps
        # ~150 memory maps for the life of the process (TensorFlow never evicts XLA executables).
        self._train = tf.function(self._train_body, jit_compile=self.jit_compile, reduce_retracing=True)
        self._predict = tf.function(self._predict_body, jit_compile=self.jit_compile, reduce_retracing=True)
        self._step = tf.function(self._step_body, jit_compile=self.jit_compile, reduce_retracing=True)
        self._loss_and_grads = tf.function(self._loss_and_grads_body, reduce_retracing=True)
        if device != "cpu":
            tf.config.experimental.reset_memory_stats(self._tf_device[1:])

    def _bias_pairs(self) -> dict[int, tuple[tf.Variable, tf.Variable]]:
        """(b_ih, b_hh) variables for each single Keras bias, keyed by its index in _variables."""
        if not single_bias(self.spec.cell):
            return {}
        rnn_biases = [b for b in map(_recurrent_bias, self.net.layers) if b is not None]
        return {i: (tf.Variable(tf.zeros_like(v), name="b_ih"), tf.Variable(tf.zeros_like(v), name="b_hh"))
                for i, v in enumerate(self._variables) if any(v is b for b in rnn_biases)}

    def _trained_variables(self) -> tuple[list[tf.Variable], list[int]]:
        """What the optimiser updates (each single bias replaced by its pair), and each one's gradient index."""
        trained, index = [], []
        for i, v in enumerate(self._variables):
            pair = self._pairs.get(i, (v,))
            trained += list(pair)
            index += [i] * len(pair)
        return trained, index

    # --- compiled bodies (traced once per input signature) -------------------------------

    def _output(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        return network_output(self.spec, self.net, x, training)

    def _loss(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return loss_fn(self.spec.head, self._output(x, training=True), y)

    def _train_body(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.device(self._tf_device):
            loss, grads = self._gradients(x, y)
            if not self._scaled:
                self._apply(grads)
                return loss
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            tf.cond(finite, lambda: self._apply(grads) or tf.constant(True), lambda: tf.constant(False))
            counted = tf.where(finite, self._finite_steps + 1, 0)
            grow = counted >= LOSS_SCALING.interval
            self._scale.assign(tf.where(finite, tf.where(grow, self._scale * LOSS_SCALING.growth, self._scale),
                                        self._scale * LOSS_SCALING.backoff))
            self._finite_steps.assign(tf.where(grow, 0, counted))
            return loss

    def _gradients(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """The loss and every variable's dense gradient; for float16 through the scaled loss, divided back."""
        with tf.GradientTape() as tape:
            loss = self._loss(x, y)
            scaled = loss * tf.cast(self._scale, loss.dtype) if self._scaled else loss
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(scaled, self._variables)]  # IndexedSlices: dense
        if self._scaled:
            grads = [g / tf.cast(self._scale, g.dtype) for g in grads]
        return loss, grads

    def _apply(self, grads: list[tf.Tensor]) -> None:
        """One optimiser step, then each single Keras bias as the sum of its pair."""
        self._optimizer.apply([grads[i] for i in self._grad_index])  # a single bias's gradient twice
        for i, (b_ih, b_hh) in self._pairs.items():
            self._variables[i].assign(b_ih + b_hh)  # (G*H,)

    def _loss_and_grads_body(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.device(self._tf_device):
            return self._gradients(x, y)

    def _predict_body(self, x: tf.Tensor) -> tf.Tensor:
        with tf.device(self._tf_device):
            return self._output(x, training=False)

    def _step_body(self, x: tf.Tensor, states: list[list[tf.Tensor]]) -> tuple[tf.Tensor, list[list[tf.Tensor]]]:
        with tf.device(self._tf_device):
            return network_step(self.spec, self.net, x, states)

    # --- the Model interface ------------------------------------------------------------

    def _tensors(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[tf.Tensor, ...]:
        """(B, T) ids or (B, T, F) floats, and (B, T) ids or (B, O) targets, as int32 / the model dtype."""
        return tuple(tf.convert_to_tensor(a) for a in model_inputs(self.spec, x, y, ids=np.int32))

    # Each call also runs under the model's device: an XLA function compiles for the device of
    # its call, whatever the device scopes inside it say.

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        with tf.device(self._tf_device):
            self._last_loss = self._train(*self._tensors(x, y))

    def last_loss(self) -> float | None:
        return None if self._last_loss is None else float(self._last_loss.numpy())

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        with tf.device(self._tf_device):
            loss, grads = self._loss_and_grads(*self._tensors(x, y))
        layers, rest = [], [g.numpy() for g in grads]
        for layer in self.net.layers:
            n = len(layer.trainable_weights)
            layers.append(rest[:n])
            rest = rest[n:]
        return float(loss.numpy()), from_keras(self.spec, layers, gradient=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        with tf.device(self._tf_device):
            return self._predict(*self._tensors(x)).numpy()

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        with tf.device(self._tf_device):
            out, states = self._step(*self._tensors(x), to_cell_states(self.spec, state))
        return out.numpy(), from_cell_states(self.spec, [[s.numpy() for s in layer] for layer in states])

    def get_params(self) -> Params:
        params = from_keras(self.spec, [layer.get_weights() for layer in self.net.layers])
        for k, (b_ih, b_hh) in enumerate(self._pairs.values()):  # in layer order
            params[f"l{k}.b_ih"], params[f"l{k}.b_hh"] = b_ih.numpy(), b_hh.numpy()
        return params

    def set_params(self, params: Params) -> None:
        check_params(self.spec, params)
        params = copy_params(params, self.spec.dtype)
        for layer, weights in zip(self.net.layers, to_keras(self.spec, params), strict=True):
            layer.set_weights(weights)
        for k, (b_ih, b_hh) in enumerate(self._pairs.values()):
            b_ih.assign(params[f"l{k}.b_ih"])
            b_hh.assign(params[f"l{k}.b_hh"])
        self._optimizer.reset()
        self._scale.assign(LOSS_SCALING.initial)  # a fresh model: a fresh loss scale, as a fresh optimiser
        self._finite_steps.assign(0)

    def synchronize(self) -> None:
        # Waits for every queued op on every device (TF >= 2.13); on the CPU the call already blocked.
        tf.test.experimental.sync_devices()

    def device_memory(self) -> MemoryStats | None:
        if self.device == "cpu":
            return None
        info = tf.config.experimental.get_memory_info(self._tf_device[1:])
        source = f"tf.config.experimental.get_memory_info({self._tf_device[1:]!r})"
        return MemoryStats(peak_bytes=int(info["peak"]), current_bytes=int(info["current"]), source=source)

    def runtime_info(self) -> RuntimeInfo:
        settings = dict(self._settings, implementation=self.implementation, device=self.device,
                        jit_compile=str(self.jit_compile), cudnn=str(self._cudnn), keras=keras.__version__,
                        dtype_policy=layer_dtype(self.spec))
        if self._scaled:
            settings["loss_scaling"] = (f"dynamic in the compiled step (init {LOSS_SCALING.initial:g}, "
                                        f"x{LOSS_SCALING.growth:g} every {LOSS_SCALING.interval} finite steps, "
                                        f"x{LOSS_SCALING.backoff:g} and the step skipped on inf/NaN)")
        if self.implementation == "hoisted":
            settings["input_projection"] = "hoisted: one matmul for all steps before the loop"
            path = f"hoisted {self.spec.cell} layer (Keras weights) in tf.function, input projection before " \
                   "the loop, tf.scan, TF graph executor"
            return RuntimeInfo(kernel_path=path, settings=settings)
        layer = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU(reset_after=True)"}[self.spec.cell]
        return RuntimeInfo(kernel_path=f"keras {layer} in tf.function, {self._loop_path()}", settings=settings)

    def _loop_path(self) -> str:
        """What runs the time loop of the training step."""
        if self._cudnn:
            return "cuDNN (CudnnRNNV3)"
        if self.jit_compile:
            return "tf.while_loop, XLA " + ("CPU" if self.device == "cpu" else "GPU")
        return "tf.while_loop, TF graph executor"
