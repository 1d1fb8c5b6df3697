"""imdb: sentiment of the 25k/25k IMDB reviews, the Keras set-up.

As in ``keras.datasets.imdb.load_data(num_words=10000)`` followed by
``pad_sequences(x, maxlen=500)`` (padding and truncating at the front), and
the model of Chollet's "Deep Learning with Python" (6.2/6.3):
Embedding(10000, 32) -> cell(32) -> Dense(1), RMSprop(1e-3), batches of 128.
The model trains on all 25,000 training reviews (Keras' example holds 20%
out for monitoring; here the curve is measured on the test set) and is
scored by its accuracy on the 25,000 test reviews.

The full profile runs 20 epochs where the book runs 10: every backend starts
from PyTorch's default initialisation (``init_params``), which learns this
task more slowly than Keras' (Glorot, orthogonal, forget-gate bias 1); with
torch the LSTM had 0.859 test accuracy after 10 epochs, still rising.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rnnbench import hookimpl
from rnnbench.errors import UsageError
from rnnbench.spec import Cell, ModelSpec, OptimizerSpec
from rnnbench.task import Batch, Budget, Recipe, Target, Task, TaskConfig

from .common import binary_metrics, epoch_batches

NUM_WORDS = 10_000  # vocabulary: the most frequent words, the rest become the out-of-vocabulary id 2
EMBEDDING_DIM = 32
TARGETS = {"rnn": 0.80, "lstm": 0.86, "gru": 0.86}  # test accuracy on the full profile

# Keras' RMSprop defaults, written out: rho 0.9, epsilon 1e-7 added to sqrt(v), no clipping.
RMSPROP = OptimizerSpec("rmsprop", lr=1e-3, rho=0.9, eps=1e-7, momentum=0.0, clip_norm=None)
TRAIN_REVIEWS, BATCH = 25_000, 128
STEPS_PER_EPOCH = TRAIN_REVIEWS // BATCH  # 195 full batches
# Quick: the same steps for every backend (the equal-step comparison), a few seconds on the slowest here.
QUICK_STEPS = 16
RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(hidden_size=32, num_layers=1, batch_size=8, eval_batch_size=16, optimizer=RMSPROP,
                    budget=Budget(max_steps=3, max_seconds=None, eval_every=2, eval_batches=1,
                                  final_eval_batches=1, loss_every_step=True)),
    "quick": Recipe(hidden_size=32, num_layers=1, batch_size=BATCH, eval_batch_size=500, optimizer=RMSPROP,
                    budget=Budget(max_steps=QUICK_STEPS, max_seconds=None, eval_every=QUICK_STEPS,
                                  eval_batches=4, loss_every_step=True)),
    "full": Recipe(hidden_size=32, num_layers=1, batch_size=BATCH, eval_batch_size=500, optimizer=RMSPROP,
                   budget=Budget(max_steps=20 * STEPS_PER_EPOCH, max_seconds=1800.0,
                                 eval_every=STEPS_PER_EPOCH)),
}


@dataclass(frozen=True)
class ImdbConfig(TaskConfig):
    """Options of imdb."""

    maxlen: int = 500  # words kept per review: longer ones lose their start, shorter ones are padded in front

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.maxlen, bool) or not isinstance(self.maxlen, int) or self.maxlen < 1:
            raise UsageError(f"maxlen={self.maxlen!r} is not valid. Accepted: an integer >= 1")


@functools.lru_cache(maxsize=2)
def padded_imdb(data_dir: str | None, maxlen: int) -> tuple[Batch, Batch]:
    """((x_train, y_train), (x_test, y_test)): ids int32 (25000, maxlen), labels float32 (25000, 1)."""
    from rnnbench.data import load_imdb, pad_sequences

    raw = load_imdb(data_dir, num_words=NUM_WORDS)
    splits = []
    for x, y in ((raw.x_train, raw.y_train), (raw.x_test, raw.y_test)):
        ids = pad_sequences(x, maxlen=maxlen)  # (N, maxlen), Keras' defaults: "pre" padding and truncating
        splits.append((ids, y.astype(np.float32).reshape(-1, 1)))  # (N, 1) labels
    return splits[0], splits[1]


class ImdbTask(Task):
    name = "imdb"
    description = "IMDB sentiment, Keras set-up (Embedding 10000x32 -> cell 32 -> Dense 1); test accuracy"
    config_class = ImdbConfig
    headline = "test_accuracy"
    config: ImdbConfig

    def recipe(self) -> Recipe:
        return RECIPES[self.config.profile]

    def model_spec(self, cell: Cell) -> ModelSpec:
        r = self.recipe()
        return ModelSpec(cell, r.hidden_size, "classify", 1, num_layers=r.num_layers, vocab_size=NUM_WORDS,
                         embedding_dim=EMBEDDING_DIM)

    @property
    def seq_len(self) -> int:
        return self.config.maxlen

    def quality_target(self, cell: Cell) -> Target | None:
        return Target("test_accuracy", TARGETS[cell], "max")

    def real_train_batches(self, seed: int) -> Iterator[Batch]:
        (x, y), _ = padded_imdb(self.config.data_dir, self.config.maxlen)
        return epoch_batches(x, y, self.recipe().batch_size, seed)

    def real_eval_arrays(self) -> Batch:
        return padded_imdb(self.config.data_dir, self.config.maxlen)[1]

    def metrics(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
        scores = binary_metrics(out, y)  # out (N, 1) logits, y (N, 1)
        return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"]}


@hookimpl
def rnnbench_register_tasks() -> list[type[Task]]:
    return [ImdbTask]
