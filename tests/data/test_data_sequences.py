"""Ragged sequences and pad_sequences: Keras' documented results and its algorithm, value for value."""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.data.sequences import Sequences, pad_sequences
from rnnbench.errors import UsageError


def keras_reference(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0):
    """The loop of keras.utils.pad_sequences (Keras 3), retyped for integer sequences."""
    maxlen = max((len(s) for s in sequences), default=0) if maxlen is None else maxlen
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, -len(trunc):] = trunc
    return out


@pytest.mark.parametrize(("kwargs", "expected"), [  # the examples in Keras' docstring
    ({}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
])
def test_keras_docstring_examples(kwargs, expected):
    padded = pad_sequences([[1], [2, 3], [4, 5, 6]], **kwargs)
    assert padded.dtype == np.int32
    assert padded.tolist() == expected


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 1, 4, 9])
def test_matches_the_keras_algorithm(padding, truncating, maxlen):
    rng = np.random.default_rng(0)
    lists = [rng.integers(1, 100, size=n).tolist() for n in (0, 1, 3, 4, 7, 12, 0, 5)]
    expected = keras_reference(lists, maxlen, padding=padding, truncating=truncating, value=7)
    for given in (lists, Sequences.from_lists(lists)):
        got = pad_sequences(given, maxlen, padding=padding, truncating=truncating, value=7)
        np.testing.assert_array_equal(got, expected)


def test_dtype_and_empty_input():
    assert pad_sequences([[1, 2]], 3, dtype="int64").dtype == np.int64
    assert pad_sequences([], 4).shape == (0, 4)
    assert pad_sequences([[], []]).shape == (2, 0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"maxlen": 0}, "maxlen=0 is not valid. Accepted: None or an integer >= 1"),
    ({"maxlen": 2.5}, "maxlen=2.5 is not valid. Accepted: None or an integer >= 1"),
    ({"padding": "middle"}, "padding='middle' is not valid. Accepted: pre, post"),
    ({"truncating": "end"}, "truncating='end' is not valid. Accepted: pre, post"),
])
def test_bad_options_name_the_value(kwargs, message):
    with pytest.raises(UsageError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        pad_sequences([[1]], **kwargs)


def test_sequences_take_and_round_trip():
    lists = [[1, 2, 3], [], [4], [5, 6]]
    seqs = Sequences.from_lists(lists)
    assert len(seqs) == 4 and seqs.lengths.tolist() == [3, 0, 1, 2]
    assert seqs.to_lists() == lists
    assert seqs.take(np.array([3, 0, 1, 3])).to_lists() == [[5, 6], [1, 2, 3], [], [5, 6]]
    assert seqs.take(np.array([], dtype=np.int64)).to_lists() == []


def test_sequences_reject_bad_offsets():
    with pytest.raises(UsageError, match="Accepted: 1-D, from 0, non-decreasing, ending at len"):
        Sequences(np.arange(3), np.array([0, 2, 1, 3]))
    with pytest.raises(UsageError, match="Accepted: 1-D, from 0, non-decreasing, ending at len"):
        Sequences(np.arange(3), np.array([0, 2]))
