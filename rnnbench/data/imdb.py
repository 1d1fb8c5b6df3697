"""IMDB as ``keras.datasets.imdb.load_data`` gives it, without Keras.

Sources, in order: Keras' ``imdb/imdb.npz`` when present (verified by
sha256); else the arrays derived from the Keras word index and the labelled
Stanford reviews, read from the canonical tarball, a repack of its labelled
part or an extracted ``aclImdb/`` folder, each identified by the digest of
its members (the canonical tarball also by its own sha256). Derived arrays
are cached (see ``derived.py``), keyed by the digests of their sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rnnbench.data import derived
from rnnbench.data.archive import members_digest
from rnnbench.data.catalog import IMDB_NPZ, IMDB_REVIEWS, IMDB_WORD_INDEX, DataFile
from rnnbench.data.datadir import corrupt_message, derived_dir, missing_message, require, sha256_file
from rnnbench.data.datadir import data_dir as resolve_data_dir
from rnnbench.data.errors import DataCorrupt, DataMissing
from rnnbench.data.imdb_derive import derive, read_word_index
from rnnbench.data.sequences import Sequences
from rnnbench.errors import UsageError

DERIVATION = "rnnbench imdb.npz derivation v1"  # change it when the derivation changes: old entries then miss
WORD_INDEX = IMDB_WORD_INDEX.choices[0]
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ImdbArrays:
    """Reviews as integer sequences and their labels (1 positive, 0 negative), 25,000 of each split."""

    x_train: Sequences
    y_train: np.ndarray  # (25000,) int64
    x_test: Sequences
    y_test: np.ndarray  # (25000,) int64

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImdbArrays:
        x = {s: Sequences(arrays[f"x_{s}_values"], arrays[f"x_{s}_offsets"]) for s in ("train", "test")}
        return cls(x["train"], arrays["y_train"], x["test"], arrays["y_test"])


def load_imdb(data_dir: PathLike | None = None, num_words: int | None = 10_000, *, seed: int = 113,
              reviews: PathLike | None = None, cache_dir: PathLike | None = None) -> ImdbArrays:
    """``keras.datasets.imdb.load_data(num_words=num_words, seed=seed)``, the same numbers in flat arrays.

    ``reviews`` names a tarball or ``aclImdb/`` folder to use instead of the
    data dir's; ``cache_dir`` overrides where derived arrays are cached.
    """
    _check_options(num_words, 1, 2, 3)  # before the seconds spent deriving
    return keras_load_data(load_imdb_npz_arrays(data_dir, reviews=reviews, cache_dir=cache_dir),
                           num_words=num_words, seed=seed)


def load_imdb_npz_arrays(data_dir: PathLike | None = None, *, reviews: PathLike | None = None,
                         cache_dir: PathLike | None = None) -> ImdbArrays:
    """The arrays as stored in ``imdb.npz``: word ranks, unshuffled (pos then neg, by file name)."""
    root = resolve_data_dir(data_dir)
    if reviews is None and (root / IMDB_NPZ.path).exists():
        return read_keras_npz(require(IMDB_NPZ, root))
    index = require(WORD_INDEX, root)
    where, file = _reviews_source(root, reviews)
    return ImdbArrays.from_arrays(_derived(where, file, index, derived_dir(root, cache_dir)))


def read_keras_npz(path: Path) -> ImdbArrays:
    """The arrays of Keras' ``imdb.npz``; call it only on a file whose sha256 was checked."""
    with np.load(path, allow_pickle=True) as npz:  # object arrays of lists: pickled; the bytes are verified
        x = {s: Sequences.from_lists(npz[f"x_{s}"]) for s in ("train", "test")}
        y = {s: npz[f"y_{s}"].astype(np.int64) for s in ("train", "test")}
    return ImdbArrays(x["train"], y["train"], x["test"], y["test"])


def _reviews_source(root: Path, explicit: PathLike | None) -> tuple[Path, DataFile]:
    """The data dir (or folder) holding the reviews, and how its reviews file is recognised."""
    if explicit is not None:
        path = Path(explicit).expanduser().absolute()
        if not path.exists():
            raise DataMissing(f"IMDB reviews {path} do not exist; expected a tarball or an aclImdb/ folder "
                              f"(download: {IMDB_REVIEWS.choices[0].url})")
        template = IMDB_REVIEWS.choices[2 if path.is_dir() else 0]
        return path.parent, replace(template, path=path.name)
    for choice in IMDB_REVIEWS.choices:
        if (root / choice.path).exists():
            return root, choice
    raise DataMissing(missing_message(IMDB_REVIEWS.choices[0], root))


def _derived(where: Path, file: DataFile, index: Path, cache: Path) -> dict[str, np.ndarray]:
    source = where / file.path
    identity = members_digest(source) if file.is_folder else sha256_file(source)
    entry = cache / f"imdb-{derived.key(DERIVATION, WORD_INDEX.sha256 or '', identity)}.npz"
    arrays = derived.load(entry)
    if arrays is None:
        arrays = _derive_checked(where, file, source, index, identity)
        derived.save(entry, arrays)
    return arrays


def _derive_checked(where: Path, file: DataFile, source: Path, index: Path,
                    identity: str) -> dict[str, np.ndarray]:
    try:
        arrays, digest = derive(source, read_word_index(index))
    except DataCorrupt as exc:
        raise DataCorrupt(corrupt_message(file, where, f"cannot be read ({exc.__cause__})")) from exc
    if identity != file.sha256 and digest != file.members_digest:
        why = f"has members digest {digest}, not {file.members_digest}"
        raise DataCorrupt(corrupt_message(file, where, why))
    return arrays


def keras_load_data(raw: ImdbArrays, num_words: int | None = None, *, seed: int = 113, start_char: int = 1,
                    oov_char: int = 2, index_from: int = 3) -> ImdbArrays:
    """What ``keras.datasets.imdb.load_data`` does to the ``imdb.npz`` arrays (``skip_top=0``, no ``maxlen``).

    Shuffle train then test with one ``RandomState(seed)``; prepend
    ``start_char`` and add ``index_from`` to every rank; replace every value
    ``>= num_words`` with ``oov_char``.
    """
    _check_options(num_words, start_char, oov_char, index_from)
    rng = np.random.RandomState(seed)
    order = {}
    for split, y in (("train", raw.y_train), ("test", raw.y_test)):
        order[split] = np.arange(len(y))
        rng.shuffle(order[split])  # train first, then test, from the same generator
    x_train = _offset(raw.x_train.take(order["train"]), start_char, index_from)
    x_test = _offset(raw.x_test.take(order["test"]), start_char, index_from)
    if num_words is None:
        # Keras then takes the largest value as num_words, so that one value becomes oov_char too.
        num_words = int(max(x_train.values.max(initial=0), x_test.values.max(initial=0)))
    x_train, x_test = (_cap(x, num_words, oov_char) for x in (x_train, x_test))
    return ImdbArrays(x_train, raw.y_train[order["train"]], x_test, raw.y_test[order["test"]])


def _offset(seqs: Sequences, start_char: int, index_from: int) -> Sequences:
    """``[start_char] + [w + index_from for w in x]`` for every sequence."""
    offsets = seqs.offsets + np.arange(len(seqs) + 1)  # (n + 1,) one more value per sequence
    values = np.empty(int(offsets[-1]), dtype=np.int32)  # (total + n,)
    is_start = np.zeros(len(values), dtype=bool)
    is_start[offsets[:-1]] = True
    values[is_start] = start_char
    values[~is_start] = seqs.values + index_from
    return Sequences(values, offsets)


def _cap(seqs: Sequences, num_words: int, oov_char: int) -> Sequences:
    return Sequences(np.where(seqs.values < num_words, seqs.values, oov_char).astype(np.int32), seqs.offsets)


def _check_options(num_words: int | None, start_char: int, oov_char: int, index_from: int) -> None:
    checks = {"num_words": (num_words, 1), "start_char": (start_char, 0), "oov_char": (oov_char, 0),
              "index_from": (index_from, 0)}
    for name, (value, low) in checks.items():
        if name == "num_words" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            accepted = "None or an integer >= 1" if name == "num_words" else f"an integer >= {low}"
            raise UsageError(f"{name}={value!r} is not valid. Accepted: {accepted}")


def load_word_index(data_dir: PathLike | None = None) -> dict[str, int]:
    """``keras.datasets.imdb.get_word_index()``: word -> rank (1 = "the"), ``rank + 3`` in the arrays."""
    path = require(WORD_INDEX, resolve_data_dir(data_dir))
    return {word.decode("utf-8"): rank for word, rank in read_word_index(path).items()}
