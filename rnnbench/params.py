"""The canonical parameter layout, the one every backend converts to and from.

Parameters are a flat ``dict[str, np.ndarray]`` in PyTorch/cuDNN conventions.
With G gate blocks (rnn 1, lstm 4, gru 3), hidden size H and I_k the input
width of layer k (the embedding dim or the feature count for k = 0, H after):

====================  ==============  =========================================
name                  shape           meaning
====================  ==============  =========================================
``embedding``         (vocab, dim)    token vectors (embedding input only)
``l{k}.w_ih``         (G*H, I_k)      input-to-gates weights of layer k
``l{k}.w_hh``         (G*H, H)        hidden-to-gates weights of layer k
``l{k}.b_ih``         (G*H,)          input-side gate bias of layer k
``l{k}.b_hh``         (G*H,)          hidden-side gate bias of layer k
``head.w``            (O, H)          output projection
``head.b``            (O,)            output bias
====================  ==============  =========================================

Gate blocks are stacked along the rows in this order, each H rows tall:

- rnn:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
- lstm: i, f, g, o.  c' = f * c + i * g,  h' = o * tanh(c')  with
  i, f, o = sigmoid(...) and g = tanh(...) of W_ih x + b_ih + W_hh h + b_hh.
- gru:  r, z, n.  r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z}),
  n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h.

Both biases are kept (as cuDNN does) and both are trained: the gradient of
each is the gradient g of the gate's pre-activation, so an optimiser step
moves each of them (each with its own optimiser state), and clipping's global
norm counts both. A framework whose cells take one bias per gate keeps
``b_ih`` and ``b_hh`` as two trainable parameters and gives the cell their
sum in every forward pass (the gradients then come back as (g, g)); storing
the sum as one parameter agrees in outputs and gradients but not after any
optimiser step (the sum moves by one update where the reference moves it by
two, and clipping sees a smaller norm). A GRU's ``b_hn`` stays apart in any
case: it is inside r * (...). ``tests/plugins/one_bias.py`` is such a backend.
Initial hidden and cell states are zeros.

The recurrent *state* a streaming step carries between calls
(``Model.step``) has a canonical layout too, a flat ``dict[str, np.ndarray]``
with B the batch:

====================  ==============  =========================================
``l{k}.h``            (B, H)          hidden state of layer k after the step
``l{k}.c``            (B, H)          cell state of layer k (lstm only)
====================  ==============  =========================================
"""

from __future__ import annotations

import numpy as np

from rnnbench.errors import SpecError
from rnnbench.spec import ModelSpec

Params = dict[str, np.ndarray]
State = dict[str, np.ndarray]


def layer_keys(layer: int) -> tuple[str, str, str, str]:
    """The four parameter names of one recurrent layer, in layout order."""
    return (f"l{layer}.w_ih", f"l{layer}.w_hh", f"l{layer}.b_ih", f"l{layer}.b_hh")


def param_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape, in layout order."""
    gh, h = spec.gates * spec.hidden_size, spec.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    if spec.embedded:
        shapes["embedding"] = (int(spec.vocab_size), int(spec.embedding_dim))  # type: ignore[arg-type]
    for k in range(spec.num_layers):
        w_ih, w_hh, b_ih, b_hh = layer_keys(k)
        shapes[w_ih] = (gh, spec.layer_input_size(k))
        shapes[w_hh] = (gh, h)
        shapes[b_ih] = (gh,)
        shapes[b_hh] = (gh,)
    shapes["head.w"] = (spec.output_size, h)
    shapes["head.b"] = (spec.output_size,)
    return shapes


def init_params(spec: ModelSpec, seed: int) -> Params:
    """Initial weights, identical for a seed on every machine.

    Distributions follow PyTorch's defaults: the embedding N(0, 1); every
    recurrent weight and bias U(-1/sqrt(H), 1/sqrt(H)); the head
    U(-1/sqrt(H), 1/sqrt(H)). Values are drawn in float64 by one PCG64
    stream, in layout order, then cast to ``spec.dtype``; PCG64 and these
    draws are bit-identical across platforms.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    bound = 1.0 / np.sqrt(spec.hidden_size)
    params: Params = {}
    for name, shape in param_shapes(spec).items():
        if name == "embedding":
            values = rng.standard_normal(shape)
        else:
            values = rng.uniform(-bound, bound, shape)
        params[name] = values.astype(spec.dtype)
    return params


def check_params(spec: ModelSpec, params: Params) -> None:
    """Raise SpecError unless ``params`` has exactly the layout of ``spec``."""
    expected = param_shapes(spec)
    if set(params) != set(expected):
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        raise SpecError(f"parameters do not match the spec: missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        if tuple(params[name].shape) != shape:
            raise SpecError(f"parameter {name!r} has shape {params[name].shape}. Accepted: {shape}")


def copy_params(params: Params, dtype: str | None = None) -> Params:
    """A deep copy, optionally cast, so callers never share buffers."""
    return {k: np.array(v, dtype=dtype or v.dtype, copy=True) for k, v in params.items()}


def state_shapes(spec: ModelSpec, batch: int) -> dict[str, tuple[int, int]]:
    """Every array of the recurrent state of ``spec`` for ``batch`` sequences, in layout order."""
    names = [f"l{k}.{part}" for k in range(spec.num_layers) for part in ("hc" if spec.cell == "lstm" else "h")]
    return {name: (batch, spec.hidden_size) for name in names}


def zero_state(spec: ModelSpec, batch: int) -> State:
    """The state every sequence starts from: zeros, in the spec's dtype."""
    return {name: np.zeros(shape, spec.dtype) for name, shape in state_shapes(spec, batch).items()}


def check_state(spec: ModelSpec, state: State, batch: int) -> None:
    """Raise SpecError unless ``state`` has exactly the layout of ``spec`` for ``batch`` sequences."""
    expected = state_shapes(spec, batch)
    if set(state) != set(expected):
        raise SpecError(f"state does not match the spec: got {sorted(state)}. Accepted: {sorted(expected)}")
    for name, shape in expected.items():
        if tuple(np.shape(state[name])) != shape:
            raise SpecError(f"state {name!r} has shape {np.shape(state[name])}. Accepted: {shape}")
