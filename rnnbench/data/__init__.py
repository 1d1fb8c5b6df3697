"""Real datasets for the tasks: fetched from their canonical URLs, verified by sha256, loaded as NumPy.

- ``load_tinyshakespeare`` -> ``CharCorpus`` (65 characters, 90/10 split)
- ``load_imdb`` -> ``ImdbArrays`` (``keras.datasets.imdb.load_data``), ``pad_sequences``
- ``load_ett`` / ``load_etth1`` -> ``ForecastData`` (12/4/4 months, scaler fitted on train)
- ``load_airline`` -> ``MonthlySeries`` (144 months)
- ``fetch``, ``verify_all``, ``status``: what `rnnbench data fetch|verify|list` run

The names are imported on first use, so ``rnnbench --help`` (which imports
the registry for the dataset names) loads no NumPy; pooch and requests are
imported only when something is downloaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "data_dir": "datadir", "DataCorrupt": "errors", "DataError": "errors", "DataMissing": "errors",
    "fetch": "fetch", "status": "fetch", "verify_all": "fetch", "ImdbArrays": "imdb",
    "keras_load_data": "imdb", "load_imdb": "imdb", "load_word_index": "imdb", "DATASETS": "catalog",
    "Sequences": "sequences", "pad_sequences": "sequences", "ForecastData": "series",
    "MonthlySeries": "series", "StandardScaler": "series", "Windows": "series", "load_airline": "series",
    "load_ett": "series", "load_etth1": "series", "CharCorpus": "text", "load_tinyshakespeare": "text",
}
__all__ = [  # the keys of _EXPORTS, written out for linters and type checkers
    "DATASETS", "CharCorpus", "DataCorrupt", "DataError", "DataMissing", "ForecastData", "ImdbArrays",
    "MonthlySeries", "Sequences", "StandardScaler", "Windows", "data_dir", "fetch", "keras_load_data",
    "load_airline", "load_ett", "load_etth1", "load_imdb", "load_tinyshakespeare", "load_word_index",
    "pad_sequences", "status", "verify_all",
]

if TYPE_CHECKING:
    from rnnbench.data.catalog import DATASETS
    from rnnbench.data.datadir import data_dir
    from rnnbench.data.errors import DataCorrupt, DataError, DataMissing
    from rnnbench.data.fetch import fetch, status, verify_all
    from rnnbench.data.imdb import ImdbArrays, keras_load_data, load_imdb, load_word_index
    from rnnbench.data.sequences import Sequences, pad_sequences
    from rnnbench.data.series import (
        ForecastData,
        MonthlySeries,
        StandardScaler,
        Windows,
        load_airline,
        load_ett,
        load_etth1,
    )
    from rnnbench.data.text import CharCorpus, load_tinyshakespeare


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rnnbench.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rnnbench.data.{_EXPORTS[name]}"), name)
