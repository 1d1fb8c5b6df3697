"""IMDB derived from the Stanford reviews and the Keras word index equals Keras' load_data(num_words=10000).

The published facts come from the data manifest. The derivation reads the
28 MB tarball once per module (a module-scoped fixture) into a private cache.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from paths import MIRROR

from rnnbench.data import derived
from rnnbench.data.archive import iter_members, members_digest
from rnnbench.data.catalog import IMDB_MEMBERS_DIGEST
from rnnbench.data.errors import DataCorrupt
from rnnbench.data.imdb import ImdbArrays, keras_load_data, load_imdb, load_imdb_npz_arrays, read_keras_npz
from rnnbench.data.imdb_derive import derive, encode, tokenize
from rnnbench.data.sequences import Sequences, pad_sequences
from rnnbench.errors import UsageError

REPACK = "imdb/aclImdb_v1_labeled.tar.gz"
# The widely printed Keras x_train[0], start and end (218 values with num_words=10000).
X_TRAIN_0_HEAD = [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65, 458, 4468, 66, 3941, 4, 173, 36, 256, 5, 25]
X_TRAIN_0_TAIL = [16, 5345, 19, 178, 32]


@pytest.fixture(scope="module")
def mirror() -> Path:
    if not (MIRROR / REPACK).is_file():
        pytest.skip(f"no IMDB repack in the data mirror at {MIRROR} (set RNNBENCH_DATA_DIR)")
    return MIRROR


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("derived")


@pytest.fixture(scope="module")
def raw(mirror: Path, cache: Path) -> ImdbArrays:
    """The imdb.npz arrays, derived once for the module (a few seconds)."""
    return load_imdb_npz_arrays(mirror, cache_dir=cache)


@pytest.fixture(scope="module")
def imdb(raw: ImdbArrays) -> ImdbArrays:
    return keras_load_data(raw, num_words=10_000)


@pytest.fixture(scope="module")
def reviews(mirror: Path) -> dict[str, bytes]:
    wanted = {f"aclImdb/{name}" for name in ("train/pos/576_10.txt", "train/neg/10654_1.txt",
                                              "train/neg/3771_1.txt", "test/neg/7975_1.txt")}
    return {name: data for name, data in iter_members(mirror / REPACK) if name in wanted}


@pytest.mark.slow
def test_published_facts(imdb):
    assert (len(imdb.x_train), len(imdb.x_test)) == (25_000, 25_000)
    assert imdb.x_train.lengths[:3].tolist() == [218, 189, 141]
    assert imdb.x_train[0][:20].tolist() == X_TRAIN_0_HEAD and imdb.x_train[0][-5:].tolist() == X_TRAIN_0_TAIL
    assert imdb.y_train[:10].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]
    assert len(imdb.x_test[0]) == 68
    assert (imdb.x_train.lengths.mean(), imdb.x_train.lengths.max()) == (238.71364, 2494)
    assert (imdb.x_test.lengths.mean(), imdb.x_test.lengths.max()) == (230.8042, 2315)
    assert imdb.y_train.sum() == imdb.y_test.sum() == 12_500


def test_values_follow_keras_conventions(imdb):
    for x in (imdb.x_train, imdb.x_test):
        assert np.all(x.values[x.offsets[:-1]] == 1)  # start_char
        assert x.values.min() >= 1 and x.values.max() == 9_999
        assert np.count_nonzero(x.values == 2) > 0  # oov_char for ranks >= 9,997
    assert imdb.x_train.values.dtype == np.int32 and imdb.y_train.dtype == np.int64


def test_first_reviews_are_the_published_files(imdb, raw, reviews, mirror):
    from rnnbench.data.imdb_derive import read_word_index

    index = read_word_index(mirror / "imdb" / "imdb_word_index.json")
    expected = {"train/pos/576_10.txt": imdb.x_train[0], "train/neg/10654_1.txt": imdb.x_train[1],
                "train/neg/3771_1.txt": imdb.x_train[2], "test/neg/7975_1.txt": imdb.x_test[0]}
    for name, row in expected.items():
        ranks = encode([reviews[f"aclImdb/{name}"]], index)[0]
        keras_row = np.where(ranks + 3 < 10_000, ranks + 3, 2)
        assert row.tolist() == [1, *keras_row.tolist()], name


def test_padded_to_500_as_keras(imdb):
    padded = pad_sequences(imdb.x_train, maxlen=500)
    assert padded.shape == (25_000, 500) and padded.dtype == np.int32
    assert padded[0, :282].tolist() == [0] * 282 and padded[0, 282:].tolist() == imdb.x_train[0].tolist()
    longest = int(np.argmax(imdb.x_train.lengths))
    assert padded[longest].tolist() == imdb.x_train[longest][-500:].tolist()  # truncating="pre"


def test_the_derived_arrays_are_cached_by_source_digest(mirror, cache, raw, monkeypatch):
    [entry] = cache.glob("imdb-*.npz")

    def no_second_pass(*args: object) -> None:
        raise AssertionError("the reviews were tokenized again")
    monkeypatch.setattr("rnnbench.data.imdb.derive", no_second_pass)
    again = load_imdb_npz_arrays(mirror, cache_dir=cache)
    np.testing.assert_array_equal(again.x_test.values, raw.x_test.values)
    assert derived.load(entry) is not None


def test_a_damaged_cache_entry_is_not_used(tmp_path):
    entry = tmp_path / "entry.npz"
    assert derived.save(entry, {"a": np.arange(1000, dtype=np.int32)})
    assert derived.load(entry)["a"].tolist() == list(range(1000))
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x01
    entry.write_bytes(bytes(data))
    assert derived.load(entry) is None
    assert derived.load(tmp_path / "absent.npz") is None


def test_keras_options(raw):
    everything = keras_load_data(raw, num_words=None)
    # Keras takes the largest value as num_words, so only that one value turns into oov_char.
    assert everything.x_train.values.max() < 88_584 + 3
    fewer = keras_load_data(raw, num_words=100, seed=0)
    assert fewer.x_train.values.max() == 99 and fewer.y_train[:10].tolist() != [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]
    with pytest.raises(UsageError, match=r"^num_words=0 is not valid. Accepted: None or an integer >= 1$"):
        keras_load_data(raw, num_words=0)


def test_keras_npz_is_read_and_checked(raw, tmp_path, mirror):
    npz = tmp_path / "imdb" / "imdb.npz"
    npz.parent.mkdir()
    shutil.copyfile(mirror / "imdb" / "imdb_word_index.json", npz.parent / "imdb_word_index.json")
    first = np.arange(300)
    x = {s: getattr(raw, f"x_{s}").take(first) for s in ("train", "test")}
    np.savez(npz, x_train=_object_array(x["train"]), y_train=raw.y_train[first],
             x_test=_object_array(x["test"]), y_test=raw.y_test[first])  # the layout of Keras' imdb.npz
    read = read_keras_npz(npz)
    np.testing.assert_array_equal(read.x_train.values, x["train"].values)
    np.testing.assert_array_equal(read.x_test.offsets, x["test"].offsets)
    np.testing.assert_array_equal(read.y_test, raw.y_test[first])
    message = rf"^imdb/imdb.npz in the data dir {tmp_path} has [0-9,]+ bytes, not 17,464,789"
    with pytest.raises(DataCorrupt, match=message):
        load_imdb(tmp_path)  # not the canonical bytes: refused, never silently replaced by another source


def _object_array(seqs: Sequences) -> np.ndarray:
    out = np.empty(len(seqs), dtype=object)
    out[:] = seqs.to_lists()
    return out


def test_a_corrupt_tarball_is_refused_and_nothing_cached(mirror, tmp_path):
    root = tmp_path / "data"
    (root / "imdb").mkdir(parents=True)
    shutil.copyfile(mirror / "imdb" / "imdb_word_index.json", root / "imdb" / "imdb_word_index.json")
    data = bytearray((mirror / REPACK).read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / REPACK).write_bytes(bytes(data))
    message = rf"^{REPACK} in the data dir {root} cannot be read \(CRC check failed"
    with pytest.raises(DataCorrupt, match=message):
        load_imdb(root, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_tokenize_rules():
    text = "Hello, World!<br /><br />It's GREAT\tÉCOLE\nx--y".encode()
    assert tokenize(text) == [b"hello", b"world", b"br", b"br", b"it's", b"great", "É".encode() + b"cole",
                              b"x", b"y"]
    assert tokenize(b"a\rb  c\x0bd") == [b"a\rb", b"c\x0bd"]  # only spaces split, as in the Keras arrays


def write_reviews(folder: Path, reviews: dict[str, str]) -> None:
    for name, text in {**reviews, "README": "readme"}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SMALL = {"train/pos/10_9.txt": "good film", "train/pos/9_8.txt": "good good", "train/neg/2_1.txt": "bad film",
         "test/pos/1_10.txt": "good unseen film", "test/neg/0_2.txt": "bad", "train/unsup/0_0.txt": "ignored"}
SMALL_INDEX = {b"good": 1, b"film": 2, b"bad": 3}


def test_derive_orders_pos_then_neg_by_file_name_and_drops_unknown_words(tmp_path):
    write_reviews(tmp_path / "aclImdb", SMALL)
    arrays, digest = derive(tmp_path / "aclImdb", SMALL_INDEX)
    train = Sequences(arrays["x_train_values"], arrays["x_train_offsets"])
    assert train.to_lists() == [[1, 2], [1, 1], [3, 2]]  # "10_9.txt" < "9_8.txt" as strings
    assert arrays["y_train"].tolist() == [1, 1, 0] and arrays["y_test"].tolist() == [1, 0]
    test = Sequences(arrays["x_test_values"], arrays["x_test_offsets"])
    assert test.to_lists() == [[1, 2], [3]]  # "unseen" is not in the index
    with tarfile.open(tmp_path / "small.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "aclImdb", arcname="./aclImdb")  # "./" prefixes are normalised
    assert members_digest(tmp_path / "small.tar.gz") == digest == members_digest(tmp_path / "aclImdb")


def test_reviews_that_are_not_the_labelled_set_are_refused(mirror, tmp_path):
    write_reviews(tmp_path / "aclImdb", SMALL)
    digest = rf"members digest [0-9a-f]{{64}}, not {IMDB_MEMBERS_DIGEST}"
    message = rf"^aclImdb in the data dir {tmp_path} has {digest}; it was not used"
    with pytest.raises(DataCorrupt, match=message):
        load_imdb(mirror, reviews=tmp_path / "aclImdb", cache_dir=tmp_path / "cache")
