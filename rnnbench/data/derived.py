"""A cache of arrays derived from verified sources, keyed by the digests of those sources.

Each entry is an uncompressed ``.npz`` (no pickle) that also stores the sha256
of its own arrays, so a truncated or altered entry is derived again rather
than used. Entries are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

CHECKSUM = "__sha256__"


def key(*parts: str) -> str:
    """A short name for an entry made from ``parts`` (a derivation version and source digests)."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:20]


def checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of the entry at ``path``; None when there is none or it fails its checksum."""
    try:
        with np.load(path, allow_pickle=False) as entry:
            arrays = {name: entry[name] for name in entry.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    stored = arrays.pop(CHECKSUM, None)
    return arrays if stored is not None and str(stored) == checksum(arrays) else None


def save(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Write the entry atomically; False (and nothing written) when ``path``'s folder is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created as open() creates files (0666 less the umask), not mkstemp's 0600: a cache may be shared.
        temporary = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        return False  # a cache is an optimisation: deriving again next time is correct, only slower
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **{**arrays, CHECKSUM: np.array(checksum(arrays))})  # type: ignore[arg-type]
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return True

