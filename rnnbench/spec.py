"""What every backend must build and how it must train it.

``ModelSpec`` fixes the network (one function, four frameworks) and
``OptimizerSpec`` fixes the update rule with every hyperparameter written
out, so no framework default ever decides a result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from rnnbench.errors import SpecError

Cell = Literal["rnn", "lstm", "gru"]
Head = Literal["lm", "classify", "regress"]
Dtype = Literal["float32", "float64"]
Autocast = Literal["bfloat16", "float16"]
OptimizerName = Literal["adam", "rmsprop", "sgd"]

CELLS: tuple[Cell, ...] = ("rnn", "lstm", "gru")
HEADS: tuple[Head, ...] = ("lm", "classify", "regress")
DTYPES: tuple[Dtype, ...] = ("float32", "float64")
AUTOCASTS: tuple[Autocast, ...] = ("bfloat16", "float16")  # float16 trains with LOSS_SCALING
# The precision axis of a run (its --dtype), each name with the ModelSpec fields it sets: a dtype that
# every value has; mixed precision, named as Keras names its policies (float32 parameters, optimiser
# state and loss, matmuls and cells in bfloat16); or "tf32", float32 whose matmuls a GPU may run in
# TensorFloat-32 (a 10-bit mantissa, as torch and TensorFlow allow and cuDNN defaults to).
PRECISIONS: dict[str, dict[str, Any]] = {
    "float32": {"dtype": "float32"}, "float64": {"dtype": "float64"},
    "mixed_bfloat16": {"dtype": "float32", "autocast": "bfloat16"},
    "mixed_float16": {"dtype": "float32", "autocast": "float16"}, "tf32": {"dtype": "float32", "tf32": True}}
GPU_ONLY_PRECISIONS = ("tf32",)  # a CPU has no TensorFloat-32 matmul: there it would be plain float32


@dataclass(frozen=True)
class LossScaling:
    """Dynamic loss scaling, the rule of every float16 autocast model (torch's GradScaler and Keras'
    LossScaleOptimizer, with the same constants written out): float16 keeps 5 exponent bits, so small
    gradients underflow to zero unless the loss is multiplied first.

    Each step backpropagates ``loss * scale`` and divides the gradients by ``scale``. When any gradient is
    inf or NaN the step is skipped (parameters, optimiser state and its step count unchanged) and the
    scale is multiplied by ``backoff``; after ``interval`` finite steps in a row it is multiplied by
    ``growth``. Clipping sees the unscaled gradients.
    """

    initial: float = 2.0 ** 15
    growth: float = 2.0
    backoff: float = 0.5
    interval: int = 2000


LOSS_SCALING = LossScaling()
OPTIMIZERS: tuple[OptimizerName, ...] = ("adam", "rmsprop", "sgd")

# Gate blocks stacked in the rows of w_ih / w_hh (PyTorch/cuDNN order).
GATES: dict[str, int] = {"rnn": 1, "lstm": 4, "gru": 3}


def _require_choice(field: str, value: object, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise SpecError(f"{field}={value!r} is not valid. Accepted: {', '.join(accepted)}")


def _require_positive_int(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{field}={value!r} is not valid. Accepted: an integer >= 1")


def _require_range(field: str, value: float, low: float, high: float, *, open_high: bool) -> None:
    ok = low <= value < high if open_high else low <= value <= high
    if not ok:
        bracket = ")" if open_high else "]"
        raise SpecError(f"{field}={value!r} is not valid. Accepted: a number in [{low}, {high}{bracket}")


@dataclass(frozen=True)
class ModelSpec:
    """The network: input -> ``num_layers`` stacked cells -> head.

    Data crosses the backend boundary batch-first: ``x`` is int (B, T) token
    ids for an embedding input, or (B, T, features) floats for a dense one.
    The lm head predicts ``output_size`` logits at every step, y int (B, T);
    classify gives ``output_size`` logits from the last step, y 0/1 floats
    (B, output_size); regress gives ``output_size`` values from the last
    step, y floats (B, output_size).
    """

    cell: Cell  # rnn (tanh Elman), lstm or gru
    hidden_size: int  # H, the same in every layer
    head: Head  # lm, classify or regress
    output_size: int  # O: classes for lm, logits for classify, values for regress
    num_layers: int = 1  # stacked cells; layer k>0 reads layer k-1's hidden state
    vocab_size: int | None = None  # embedding input: number of token ids
    embedding_dim: int | None = None  # embedding input: width of each token vector
    input_features: int | None = None  # dense input: features per time step
    dtype: Dtype = "float32"  # parameters, activations and dense inputs
    # Mixed precision: the layers compute in this 16-bit type (autocast) while parameters, optimiser
    # state, inputs, outputs and the loss stay float32; None computes in ``dtype``.
    autocast: Autocast | None = None
    # TensorFloat-32: float32 matmuls (and cuDNN's RNN) may round their inputs to a 10-bit mantissa on
    # GPUs that have it; off computes float32 as float32. Only with dtype float32 and no autocast.
    tf32: bool = False

    def __post_init__(self) -> None:
        _require_choice("cell", self.cell, CELLS)
        _require_choice("head", self.head, HEADS)
        _require_choice("dtype", self.dtype, DTYPES)
        if self.autocast is not None:
            _require_choice("autocast", self.autocast, AUTOCASTS)
            if self.dtype != "float32":
                raise SpecError(f"autocast={self.autocast!r} needs dtype 'float32', got {self.dtype!r}. "
                                f"Accepted: mixed precision over float32 parameters")
        if self.tf32 is not False and (self.tf32 is not True or self.dtype != "float32" or self.autocast):
            raise SpecError(f"tf32={self.tf32!r} with dtype={self.dtype!r}, autocast={self.autocast!r} is not "
                            "valid. Accepted: tf32 True or False, True only for float32 without autocast")
        for field in ("hidden_size", "output_size", "num_layers"):
            _require_positive_int(field, getattr(self, field))
        self._check_input()

    def _check_input(self) -> None:
        embedding = (self.vocab_size, self.embedding_dim)
        if self.input_features is None and None not in embedding:
            _require_positive_int("vocab_size", self.vocab_size)
            _require_positive_int("embedding_dim", self.embedding_dim)
        elif self.input_features is not None and embedding == (None, None):
            _require_positive_int("input_features", self.input_features)
        else:
            raise SpecError(
                "input is not valid: give either vocab_size and embedding_dim (token input) "
                f"or input_features (dense input), got vocab_size={self.vocab_size!r}, "
                f"embedding_dim={self.embedding_dim!r}, input_features={self.input_features!r}"
            )
        if self.head == "lm" and self.vocab_size is not None and self.output_size != self.vocab_size:
            raise SpecError(
                f"output_size={self.output_size} is not valid for an lm head over a vocabulary of "
                f"{self.vocab_size}. Accepted: output_size == vocab_size"
            )

    @property
    def precision(self) -> str:
        """The name on the precision axis: the dtype, "mixed_bfloat16", or "tf32"."""
        if self.tf32:
            return "tf32"
        return self.dtype if self.autocast is None else f"mixed_{self.autocast}"

    def full_precision(self) -> ModelSpec:
        """This network computed wholly in its dtype (no autocast, no TF32): what the reference computes."""
        return dataclasses.replace(self, autocast=None, tf32=False)

    @property
    def embedded(self) -> bool:
        """True for token-id input through an embedding table."""
        return self.vocab_size is not None

    @property
    def gates(self) -> int:
        """G, the number of gate blocks of the cell (1, 4 or 3)."""
        return GATES[self.cell]

    def layer_input_size(self, layer: int) -> int:
        """Width of what layer ``layer`` reads at each step."""
        if layer > 0:
            return self.hidden_size
        return int(self.embedding_dim if self.embedded else self.input_features)  # type: ignore[arg-type]


def precision_fields(precision: str) -> dict[str, Any]:
    """The ModelSpec fields (dtype, autocast, tf32) of a name on the precision axis, every one given."""
    _require_choice("dtype", precision, tuple(PRECISIONS))
    return {"autocast": None, "tf32": False, **PRECISIONS[precision]}


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimiser with every hyperparameter explicit.

    Update rules follow PyTorch (``torch.optim``): Adam with bias correction
    and eps added to sqrt(v_hat); RMSprop with eps added to sqrt(v), not
    centred, no momentum; SGD with (non-Nesterov, undampened) momentum. No
    weight decay anywhere. Gradients are clipped by their global L2 norm
    first when ``clip_norm`` is set, as ``torch.nn.utils.clip_grad_norm_``
    does: scaled by clip_norm / (norm + 1e-6) when that is below 1.
    """

    name: OptimizerName  # adam, rmsprop or sgd
    lr: float  # learning rate
    beta1: float = 0.9  # adam: decay of the first moment
    beta2: float = 0.999  # adam: decay of the second moment
    rho: float = 0.9  # rmsprop: decay of the squared-gradient average (torch's alpha)
    eps: float = 1e-8  # adam and rmsprop: added to the root of the second moment
    momentum: float = 0.0  # sgd: heavy-ball momentum, 0 for plain SGD
    clip_norm: float | None = None  # clip gradients to this global L2 norm; None: no clipping

    def __post_init__(self) -> None:
        _require_choice("name", self.name, OPTIMIZERS)
        if not self.lr > 0:
            raise SpecError(f"lr={self.lr!r} is not valid. Accepted: a number > 0")
        _require_range("beta1", self.beta1, 0.0, 1.0, open_high=True)
        _require_range("beta2", self.beta2, 0.0, 1.0, open_high=True)
        _require_range("rho", self.rho, 0.0, 1.0, open_high=True)
        _require_range("momentum", self.momentum, 0.0, 1.0, open_high=True)
        if not self.eps > 0:
            raise SpecError(f"eps={self.eps!r} is not valid. Accepted: a number > 0")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise SpecError(f"clip_norm={self.clip_norm!r} is not valid. Accepted: a number > 0 or None")
