"""Ragged integer sequences stored flat, and Keras' `pad_sequences` on them.

Keras returns IMDB as object arrays of Python lists; here the same numbers
live in one flat array plus offsets, so gathering, shuffling and padding 25k
reviews are a few vectorised NumPy calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rnnbench.errors import UsageError

Side = Literal["pre", "post"]
SIDES: tuple[Side, ...] = ("pre", "post")


@dataclass(frozen=True)
class Sequences:
    """Sequence ``i`` is ``values[offsets[i]:offsets[i + 1]]``."""

    values: np.ndarray  # (total,) int32, every sequence one after the other
    offsets: np.ndarray  # (n + 1,) int64, offsets[0] == 0 and offsets[-1] == total

    def __post_init__(self) -> None:
        off = self.offsets
        ok = off.ndim == 1 and len(off) >= 1 and off[0] == 0 and off[-1] == len(self.values)
        if not (ok and self.values.ndim == 1 and np.all(np.diff(off) >= 0)):
            raise UsageError(f"offsets ({len(off)} of them, for {len(self.values)} values) are not valid. "
                             "Accepted: 1-D, from 0, non-decreasing, ending at len(values)")

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]], dtype: np.dtype | type = np.int32) -> Sequences:
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        values = np.fromiter((w for s in sequences for w in s), dtype=dtype, count=int(lengths.sum()))
        return cls(values, np.concatenate([[0], np.cumsum(lengths)]))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)  # (n,)

    def take(self, indices: np.ndarray) -> Sequences:
        """The sequences at ``indices``, in that order (a copy)."""
        lengths = self.lengths[indices]  # (m,)
        offsets = np.concatenate([[0], np.cumsum(lengths)])  # (m + 1,)
        return Sequences(self.values[_ranges(self.offsets[indices], lengths)], offsets)

    def to_lists(self) -> list[list[int]]:
        """Plain lists, as Keras' `load_data` returns them inside its object arrays."""
        return [s.tolist() for s in self]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(start, start + length)`` for every pair."""
    ends = np.cumsum(lengths)  # (m,)
    shift = np.repeat(starts - (ends - lengths), lengths)  # (total,)
    return np.arange(int(ends[-1]) if len(ends) else 0) + shift


def pad_sequences(sequences: Sequences | Sequence[Sequence[int]], maxlen: int | None = None,
                  dtype: np.dtype | str = "int32", padding: Side = "pre", truncating: Side = "pre",
                  value: float = 0) -> np.ndarray:
    """``keras.utils.pad_sequences`` for integer sequences, with the same defaults and result.

    Sequences longer than ``maxlen`` lose their start ("pre") or end ("post");
    shorter ones are filled with ``value`` before ("pre") or after ("post").
    Without ``maxlen`` every row is as long as the longest sequence.
    """
    seqs = sequences if isinstance(sequences, Sequences) else Sequences.from_lists(sequences, np.int64)
    _check_padding(maxlen, padding, truncating)
    lengths = seqs.lengths  # (n,)
    width = int(lengths.max(initial=0)) if maxlen is None else int(maxlen)
    kept = np.minimum(lengths, width)  # (n,)
    src = seqs.offsets[:-1] + (lengths - kept if truncating == "pre" else 0)  # (n,) first kept value
    col = width - kept if padding == "pre" else np.zeros_like(kept)  # (n,) its column
    out = np.full((len(seqs), width), value, dtype=dtype)  # (n, width)
    rows = np.repeat(np.arange(len(seqs)), kept)  # (kept total,)
    within = _ranges(np.zeros_like(kept), kept)  # (kept total,) position inside the kept part
    out[rows, np.repeat(col, kept) + within] = seqs.values[np.repeat(src, kept) + within]
    return out


def _check_padding(maxlen: int | None, padding: str, truncating: str) -> None:
    integer = isinstance(maxlen, (int, np.integer)) and not isinstance(maxlen, bool)
    if maxlen is not None and not (integer and maxlen >= 1):
        raise UsageError(f"maxlen={maxlen!r} is not valid. Accepted: None or an integer >= 1")
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in SIDES:
            raise UsageError(f"{name}={side!r} is not valid. Accepted: {', '.join(SIDES)}")
