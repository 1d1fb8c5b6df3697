"""The data layer's errors: a file that is not there, or not the right bytes.

Both are ``RnnbenchError``s, so the CLI prints them as one line. Each message
names the file, where it was expected and the URL to get it from.
"""

from __future__ import annotations

from rnnbench.errors import RnnbenchError


class DataError(RnnbenchError):
    """A dataset file is missing, corrupt or could not be fetched."""


class DataMissing(DataError):
    """A file is not in the data dir and could not be downloaded there."""


class DataCorrupt(DataError):
    """A file is there but its bytes are not the published ones; it is never used."""
