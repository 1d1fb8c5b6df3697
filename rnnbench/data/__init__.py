"""Real datasets for the tasks: fetched from their canonical URLs, verified by sha256, loaded as NumPy.

Importing this package imports NumPy only; pooch and requests are imported
when something is downloaded.

- ``load_tinyshakespeare`` -> ``CharCorpus`` (65 characters, 90/10 split)
- ``load_imdb`` -> ``ImdbArrays`` (``keras.datasets.imdb.load_data``), ``pad_sequences``
- ``load_ett`` / ``load_etth1`` -> ``ForecastData`` (12/4/4 months, scaler fitted on train)
- ``load_airline`` -> ``MonthlySeries`` (144 months)
- ``fetch``, ``verify_all``, ``status``: what `rnnbench data fetch|verify|list` run
"""

from __future__ import annotations

from rnnbench.data.cache import data_dir
from rnnbench.data.errors import DataCorrupt, DataError, DataMissing
from rnnbench.data.fetch import fetch, status, verify_all
from rnnbench.data.imdb import ImdbArrays, keras_load_data, load_imdb, load_word_index
from rnnbench.data.registry import DATASETS
from rnnbench.data.sequences import Sequences, pad_sequences
from rnnbench.data.series import ForecastData, MonthlySeries, StandardScaler, Windows, load_airline, load_ett, load_etth1
from rnnbench.data.text import CharCorpus, load_tinyshakespeare

__all__ = [
    "DATASETS", "CharCorpus", "DataCorrupt", "DataError", "DataMissing", "ForecastData", "ImdbArrays",
    "MonthlySeries", "Sequences", "StandardScaler", "Windows", "data_dir", "fetch", "keras_load_data",
    "load_airline", "load_etth1", "load_ett", "load_imdb", "load_tinyshakespeare", "load_word_index",
    "pad_sequences", "status", "verify_all",
]
