"""Derive the arrays of Keras' ``imdb.npz`` from the Stanford reviews and the Keras word index.

The facts (data manifest, checked against the published Keras arrays):
tokens are what remains after lowercasing ASCII letters, turning
``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~``, tab and newline into spaces and
splitting on spaces; a review is the word-index rank of each token, tokens
missing from the index dropped (only test reviews have any); the order is
``pos`` reviews sorted by file name, then ``neg`` ones, for train and test.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from itertools import repeat
from pathlib import Path

import numpy as np

from rnnbench.data.archive import MembersDigest, iter_members
from rnnbench.data.sequences import Sequences

PUNCTUATION = b'!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TO_SPACE = bytes.maketrans(PUNCTUATION, b" " * len(PUNCTUATION))
_OTHER_WHITESPACE = re.compile(rb"[\r\x0b\x0c]")  # what bytes.split() splits on besides space, tab, newline
REVIEW = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+_\d+\.txt)")
LABELS = {"pos": 1, "neg": 0}


def tokenize(review: bytes) -> list[bytes]:
    """The review's tokens; bytes, so only ASCII letters are lowercased, as in the Keras arrays."""
    text = review.lower().translate(_TO_SPACE)
    if _OTHER_WHITESPACE.search(text) is None:
        return text.split()  # same tokens as splitting on " " and dropping empties, several times faster
    return [token for token in text.split(b" ") if token]


def read_word_index(path: Path) -> dict[bytes, int]:
    """Token (UTF-8 bytes) -> frequency rank (1 = "the") from ``imdb_word_index.json``."""
    return {word.encode("utf-8"): rank for word, rank in json.loads(path.read_bytes()).items()}


def encode(reviews: list[bytes], index: dict[bytes, int]) -> Sequences:
    """Ranks of each review's tokens, tokens missing from ``index`` dropped."""
    get = index.get
    per_review = []
    for review in reviews:
        tokens = tokenize(review)
        per_review.append(np.fromiter(map(get, tokens, repeat(0)), dtype=np.int32, count=len(tokens)))
    lengths = np.fromiter((len(a) for a in per_review), dtype=np.int64, count=len(per_review))  # (n,)
    values = np.concatenate(per_review) if per_review else np.zeros(0, np.int32)  # (total,) 0 = not in index
    known = values != 0  # ranks start at 1
    owner = np.repeat(np.arange(len(per_review)), lengths)  # (total,) review of each token
    kept = np.bincount(owner[known], minlength=len(per_review))  # (n,)
    return Sequences(values[known], np.concatenate([[0], np.cumsum(kept)]))


def derive(source: Path, index: dict[bytes, int]) -> tuple[dict[str, np.ndarray], str]:
    """The four ``imdb.npz`` arrays (x as values/offsets) and the members digest of ``source``.

    One pass over the tarball or folder both digests and collects, so the
    caller checks the digest before anything derived is kept or returned.
    """
    digest = MembersDigest()
    found: dict[tuple[str, str], list[tuple[str, bytes]]] = defaultdict(list)
    for name, data in iter_members(source):
        digest.add(name, data)
        if match := REVIEW.fullmatch(name):
            found[match[1], match[2]].append((match[3], data))
    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        arrays |= _split_arrays(split, found, index)
    return arrays, digest.hexdigest()


def _split_arrays(split: str, found: dict[tuple[str, str], list[tuple[str, bytes]]],
                  index: dict[bytes, int]) -> dict[str, np.ndarray]:
    reviews, labels = [], []
    for label in ("pos", "neg"):
        ordered = sorted(found.get((split, label), []))  # by file name, as a string
        reviews += [data for _, data in ordered]
        labels += [LABELS[label]] * len(ordered)
    x = encode(reviews, index)
    return {f"x_{split}_values": x.values, f"x_{split}_offsets": x.offsets,
            f"y_{split}": np.array(labels, dtype=np.int64)}
