"""char_rnn: a character-level language model of Tiny Shakespeare (Karpathy's char-rnn).

65 characters, the first 90% of the text trains and the last 10% validates
(contiguous). Training windows of 100 characters start at seeded random
offsets (nanoGPT's ``get_batch``); validation reads the split once in
consecutive, non-overlapping windows of 100, each from a zero state. The
metric is the validation cross-entropy in nats/char and bits/char; a sample
of text continuing a prompt is kept with the result.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rnnbench import hookimpl
from rnnbench.errors import UsageError
from rnnbench.spec import Cell, ModelSpec, OptimizerSpec
from rnnbench.task import Batch, Budget, Recipe, Target, Task, TaskConfig

from .common import SAMPLE_STREAM, TRAIN_STREAM, cross_entropy, stream

if TYPE_CHECKING:
    from rnnbench.backend import Model
    from rnnbench.data import CharCorpus

VOCAB_SIZE = 65  # distinct characters of Tiny Shakespeare; checked when the text is loaded
SEQ_LEN = 100  # characters per window
PAD_CHAR = "\n"  # fills the sampling context before the prompt: the text's own separator between speeches
TARGET_NATS = 1.60  # validation nats/char that LSTM and GRU should reach on the full profile


@dataclass(frozen=True)
class CharRnnConfig(TaskConfig):
    """Options of char_rnn."""

    prompt: str = "To be or not to be"  # the text sampling continues
    temperature: float = 0.8  # softmax temperature of sampling; lower is more conservative
    sample_length: int | None = None  # characters to sample; None: the profile's (20 smoke, 300 otherwise)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.prompt, str) or not self.prompt:
            raise UsageError(f"prompt={self.prompt!r} is not valid. Accepted: a non-empty string")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not self.temperature > 0:
            raise UsageError(f"temperature={self.temperature!r} is not valid. Accepted: a number > 0")
        length = self.sample_length
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
            raise UsageError(f"sample_length={length!r} is not valid. Accepted: an integer >= 0, or None")


def _adam(lr: float) -> OptimizerSpec:
    # Clipping at 5 as char-rnn does: a long BPTT window occasionally spikes the gradient.
    return OptimizerSpec("adam", lr=lr, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=5.0)


# Full: 1000 steps, as there is no dropout: the torch LSTM's validation loss bottomed out at 1.507
# near step 900 (target 1.60 met at step 400) and rose slowly after.
EMBEDDING_DIM = {"smoke": 16, "quick": 64, "full": 64}  # width of the character vectors
SAMPLE_LENGTH = {"smoke": 20, "quick": 40, "full": 300}  # default characters sampled (quick trains 12 steps: noise)
# Quick: the same steps for every backend (the equal-step comparison), a few seconds on the slowest here.
QUICK_STEPS = 12
RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(hidden_size=32, num_layers=2, batch_size=8, eval_batch_size=16, optimizer=_adam(2e-3),
                    budget=Budget(max_steps=3, max_seconds=None, eval_every=2, eval_batches=1,
                                  final_eval_batches=1, loss_every_step=True)),
    "quick": Recipe(hidden_size=256, num_layers=2, batch_size=32, eval_batch_size=128, optimizer=_adam(3e-3),
                    budget=Budget(max_steps=QUICK_STEPS, max_seconds=None, eval_every=QUICK_STEPS,
                                  loss_every_step=True)),
    "full": Recipe(hidden_size=512, num_layers=2, batch_size=64, eval_batch_size=128, optimizer=_adam(2e-3),
                   budget=Budget(max_steps=1000, max_seconds=1800.0, eval_every=100)),
}


@functools.lru_cache(maxsize=2)
def _corpus(data_dir: str | None) -> CharCorpus:
    from rnnbench.data import load_tinyshakespeare

    corpus = load_tinyshakespeare(data_dir)
    if corpus.vocab_size != VOCAB_SIZE:
        raise UsageError(f"Tiny Shakespeare has {corpus.vocab_size} distinct characters. "
                         f"Accepted: {VOCAB_SIZE}")
    return corpus


class CharRnnTask(Task):
    name = "char_rnn"
    description = "Tiny Shakespeare character language model (2x256, 2x512 full); val nats/char"
    config_class = CharRnnConfig
    headline = "val_loss"
    config: CharRnnConfig

    def recipe(self) -> Recipe:
        return RECIPES[self.config.profile]

    def model_spec(self, cell: Cell) -> ModelSpec:
        r = self.recipe()
        return ModelSpec(cell, r.hidden_size, "lm", VOCAB_SIZE, num_layers=r.num_layers,
                         vocab_size=VOCAB_SIZE, embedding_dim=EMBEDDING_DIM[self.config.profile])

    @property
    def seq_len(self) -> int:
        return SEQ_LEN

    def quality_target(self, cell: Cell) -> Target | None:
        # The Elman RNN gets no target: char-rnn sets none for it and it plateaus above 1.6.
        return Target("val_loss", TARGET_NATS, "min") if cell in ("lstm", "gru") else None

    def corpus(self) -> CharCorpus:
        return _corpus(self.config.data_dir)

    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        ids = self.corpus().train  # (N,)
        rng, size = stream(seed, TRAIN_STREAM), self.recipe().batch_size
        offsets = np.arange(SEQ_LEN + 1)  # (T + 1,)
        while True:
            starts = rng.integers(0, len(ids) - SEQ_LEN, size)  # (B,)
            window = ids[starts[:, None] + offsets]  # (B, T + 1)
            yield window[:, :-1], window[:, 1:]

    def real_eval_arrays(self) -> Batch:
        return _val_windows(self.corpus().val)

    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        nats = cross_entropy(out, y)  # out (N, T, V), y (N, T)
        return {"val_loss": nats, "val_bpc": nats / math.log(2)}

    def extras(self, model: Model, seed: int) -> dict[str, object]:
        if self.config.synthetic:
            return {}
        cfg = self.config
        length = SAMPLE_LENGTH[cfg.profile] if cfg.sample_length is None else cfg.sample_length
        text = sample(model, self.corpus(), cfg.prompt, length, cfg.temperature, stream(seed, SAMPLE_STREAM))
        return {"sample": {"prompt": cfg.prompt, "temperature": cfg.temperature, "length": length,
                           "text": text}}


def _val_windows(val: np.ndarray) -> Batch:
    """Consecutive non-overlapping windows of the validation ids, and their next characters."""
    count = (len(val) - 1) // SEQ_LEN
    x = val[:count * SEQ_LEN].reshape(count, SEQ_LEN)  # (N, T)
    y = val[1:count * SEQ_LEN + 1].reshape(count, SEQ_LEN)  # (N, T), the next character of each
    return x, y


def sample(model: Model, corpus: CharCorpus, prompt: str, length: int, temperature: float,
           rng: np.random.Generator) -> str:
    """``prompt`` continued by ``length`` characters drawn from the model at ``temperature``.

    Each character comes from ``predict`` on the last ``SEQ_LEN`` characters
    (the context the model was trained on), left-padded with newlines while
    the text is shorter, so every call has the shape (1, SEQ_LEN) and a
    compiling backend compiles once.
    """
    ids = list(corpus.encode(prompt))
    pad = int(corpus.encode(PAD_CHAR)[0])
    for _ in range(length):
        context = ([pad] * SEQ_LEN + ids)[-SEQ_LEN:]
        logits = np.asarray(model.predict(np.array([context], dtype=np.int32)))[0, -1]  # (V,)
        ids.append(_draw(logits, temperature, rng))
    return corpus.decode(np.array(ids))


def _draw(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    z = logits.astype(np.float64) / temperature  # (V,)
    if not np.all(np.isfinite(z)):
        raise UsageError("the model's logits are not finite; a diverged model cannot be sampled")
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


@hookimpl
def rnnbench_register_tasks() -> list[type[Task]]:
    return [CharRnnTask]
