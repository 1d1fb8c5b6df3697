"""Tiny Shakespeare, ETTh1 and airline loaders on the real files of the data mirror."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from paths import MIRROR

from rnnbench.data.series import ett_borders, load_airline, load_ett, load_etth1, sliding_windows
from rnnbench.data.text import char_corpus, load_tinyshakespeare
from rnnbench.errors import UsageError


@pytest.fixture(scope="module")
def mirror() -> Path:
    if not (MIRROR / "ett" / "ETTh1.csv").is_file():
        pytest.skip(f"no data mirror at {MIRROR} (set RNNBENCH_DATA_DIR)")
    return MIRROR


def test_tinyshakespeare_vocabulary_and_contiguous_split(mirror):
    corpus = load_tinyshakespeare(mirror)
    assert len(corpus.text) == 1_115_394 and corpus.vocab_size == 65
    assert corpus.chars == "".join(sorted(corpus.chars)) and corpus.chars[:2] == "\n "
    assert (len(corpus.train), len(corpus.val)) == (1_003_854, 111_540)  # int(0.9 * n) and the rest
    assert corpus.train.dtype == np.int32
    assert corpus.decode(corpus.train[:14]) == "First Citizen:"
    assert corpus.decode(np.concatenate([corpus.train, corpus.val])) == corpus.text
    prompt = "To be or not to be"
    assert corpus.encode(prompt).tolist() == [corpus.chars.index(c) for c in prompt]


def test_char_corpus_rules():
    corpus = char_corpus("abcabcabca", val_fraction=0.2)
    assert corpus.chars == "abc"
    assert corpus.train.tolist() == [0, 1, 2, 0, 1, 2, 0, 1] and corpus.val.tolist() == [2, 0]
    with pytest.raises(UsageError, match=r"^Character 'z' is not in the vocabulary. Accepted: 'abc'$"):
        corpus.encode("abz")
    with pytest.raises(UsageError, match=r"^val_fraction=1.0 is not valid. Accepted: a number in \(0, 1\)$"):
        char_corpus("abc", val_fraction=1.0)


def test_ett_borders_are_informers():
    assert ett_borders(96) == ((0, 8640), (8544, 11520), (11424, 14400))


def test_etth1_multivariate_split_sizes_and_scaler_fitted_on_train_only(mirror):
    data = load_etth1(mirror)
    assert data.inputs == data.targets == ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
    assert [len(s.series) for s in (data.train, data.val, data.test)] == [8640, 2976, 2976]
    assert data.train.x.shape == (8521, 96, 7) and data.train.y.shape == (8521, 24, 7)
    assert data.val.x.shape[0] == data.test.x.shape[0] == 2857
    assert data.train.x.dtype == np.float32
    np.testing.assert_allclose(data.train.series.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.train.series.std(axis=0), 1, atol=1e-5)
    assert abs(data.test.series[:, -1].mean()) > 0.1  # the test months were not used for the fit
    np.testing.assert_allclose(data.scaler.mean[-1], 17.1282617, rtol=1e-7)


def test_ett_windows_line_up(mirror):
    data = load_ett(mirror, "ETTh1", features="S", lookback=8, horizon=3, dtype="float64")
    assert data.inputs == data.targets == ("OT",)
    series = data.val.series  # (T, 1)
    np.testing.assert_array_equal(data.val.x[5], series[5:13])
    np.testing.assert_array_equal(data.val.y[5], series[13:16])
    assert data.val.series[8 - 1, 0] == data.train.series[-1, 0]  # val's look-back ends where train ends
    ms = load_ett(mirror, features="MS")
    assert ms.train.x.shape == (8521, 96, 7) and ms.train.y.shape == (8521, 24, 1) and ms.targets == ("OT",)
    np.testing.assert_array_equal(ms.train.y[0, :, 0], ms.train.series[96:120, 6])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "ETTm1"}, "name='ETTm1' is not valid. Accepted: ETTh1, ETTh2"),
    ({"features": "U"}, "features='U' is not valid. Accepted: S, M, MS"),
    ({"lookback": 0}, r"lookback=0 is not valid. Accepted: an integer in \[1, 8640\]"),
    ({"horizon": 3000}, r"horizon=3000 is not valid. Accepted: an integer in \[1, 2880\]"),
])
def test_ett_bad_options(mirror, kwargs, message):
    with pytest.raises(UsageError, match=f"^{message}$"):
        load_ett(mirror, **kwargs)


def test_sliding_windows_too_short():
    with pytest.raises(UsageError, match="lookback \\+ horizon = 6 is not valid for a series of 5 rows"):
        sliding_windows(np.zeros((5, 1)), 4, 2)


def test_airline_passengers(mirror):
    series = load_airline(mirror)
    assert len(series.values) == 144 and series.values.dtype == np.float64
    assert (str(series.months[0]), series.values[0]) == ("1949-01", 112.0)
    assert (str(series.months[-1]), series.values[-1]) == ("1960-12", 432.0)
    assert np.all(np.diff(series.months).astype(int) == 1)
