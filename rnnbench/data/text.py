"""Tiny Shakespeare as character ids: sorted vocabulary, contiguous train/validation split."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from rnnbench.data.catalog import TINYSHAKESPEARE
from rnnbench.data.datadir import data_dir as resolve_data_dir
from rnnbench.data.datadir import require
from rnnbench.errors import UsageError


@dataclass(frozen=True)
class CharCorpus:
    """A text, its character vocabulary and the text as ids, split into train and validation."""

    text: str
    chars: str  # the distinct characters, sorted by code point; a character's id is its position
    train: np.ndarray  # (n_train,) int32 ids, the first part of the text
    val: np.ndarray  # (n_val,) int32 ids, the rest

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text``'s characters, (len(text),) int32; a character not in the vocabulary is an error."""
        return encode_chars(text, self.chars)

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.chars[i] for i in np.asarray(ids).ravel())


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def encode_chars(text: str, chars: str) -> np.ndarray:
    """Position of each character of ``text`` in the sorted string ``chars``, (len(text),) int32."""
    codes = _code_points(text)  # (n,)
    vocab = _code_points(chars)  # (V,) sorted
    ids = np.searchsorted(vocab, codes)  # (n,)
    nearest = vocab[np.minimum(ids, len(vocab) - 1)] if len(vocab) else np.full_like(codes, -1)  # (n,)
    unknown = (ids == len(vocab)) | (nearest != codes)
    if unknown.any():
        raise UsageError(f"Character {text[int(np.argmax(unknown))]!r} is not in the vocabulary. "
                         f"Accepted: {chars!r}")
    return ids.astype(np.int32)


def char_corpus(text: str, val_fraction: float = 0.1) -> CharCorpus:
    """Split ``text`` contiguously: the first ``1 - val_fraction`` for training, the rest for validation."""
    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"val_fraction={val_fraction!r} is not valid. Accepted: a number in (0, 1)")
    chars = "".join(sorted(set(text)))
    ids = encode_chars(text, chars)  # (len(text),)
    n_train = int(len(ids) * (1.0 - val_fraction))  # nanoGPT's shakespeare_char: the first 90% trains
    return CharCorpus(text, chars, ids[:n_train], ids[n_train:])


def load_tinyshakespeare(data_dir: str | os.PathLike[str] | None = None,
                         val_fraction: float = 0.1) -> CharCorpus:
    """Tiny Shakespeare (1,115,394 characters, 65 distinct) from the data dir, verified first."""
    path = require(TINYSHAKESPEARE.choices[0], resolve_data_dir(data_dir))
    return char_corpus(path.read_bytes().decode("utf-8"), val_fraction)
