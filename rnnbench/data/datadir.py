"""Where the data lives, and whether a file there is the published one.

The data dir is ``--data-dir`` if given, else ``$RNNBENCH_DATA_DIR``, else
``<user cache dir>/rnnbench/data``. It may be read-only (the shared mirror
is): whatever rnnbench derives from the data (the IMDB arrays) then goes to
a writable cache dir instead. Every file is checked before it is used, so a
corrupt file is reported, never read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from rnnbench.data.archive import members_digest
from rnnbench.data.catalog import DataFile
from rnnbench.data.errors import DataCorrupt, DataMissing

DATA_DIR_ENV = "RNNBENCH_DATA_DIR"
CACHE_DIR_ENV = "RNNBENCH_CACHE_DIR"  # where derived arrays go; default: beside the data, if writable
APP_NAME = "rnnbench"


def user_cache_dir() -> Path:
    import platformdirs  # small, but only the data commands need it

    return platformdirs.user_cache_path(APP_NAME)


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data dir: ``explicit``, else ``$RNNBENCH_DATA_DIR``, else the user's cache dir."""
    chosen = explicit or os.environ.get(DATA_DIR_ENV)
    return Path(chosen).expanduser() if chosen else user_cache_dir() / "data"


def is_writable(folder: Path) -> bool:
    """Whether rnnbench may write into ``folder`` (or create it).

    Write permission bits are required as well as ``os.access``: root passes
    ``os.access`` on a folder marked read-only, and the shared mirror is one.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    mode = existing.stat().st_mode
    return os.access(existing, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def derived_dir(root: Path, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where derived arrays go: ``explicit``, $RNNBENCH_CACHE_DIR, ``<root>/derived`` or the user cache."""
    chosen = explicit or os.environ.get(CACHE_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser()
    return root / "derived" if is_writable(root) else user_cache_dir() / "derived"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def missing_message(file: DataFile, root: Path) -> str:
    return (f"{file.path} is not in the data dir {root}: expected at {root / file.path}; "
            f"download it from {file.url} (or run `rnnbench data fetch`)")


def corrupt_message(file: DataFile, root: Path, why: str) -> str:
    return (f"{file.path} in the data dir {root} {why}; it was not used: delete {root / file.path} "
            f"and download it again from {file.url} (or run `rnnbench data fetch`)")


def verify(file: DataFile, root: Path) -> Path:
    """The file's path once its bytes are the published ones; `DataCorrupt` otherwise."""
    path = root / file.path
    why = _problem(file, path)
    if why is not None:
        raise DataCorrupt(corrupt_message(file, root, why))
    return path


def _problem(file: DataFile, path: Path) -> str | None:
    """Why ``path`` is not ``file``, or None when it is."""
    if file.is_folder != path.is_dir():
        return "is a folder, not a file" if path.is_dir() else "is a file, not a folder"
    if file.sha256 is not None:
        size = path.stat().st_size
        if file.members_digest is None and file.size is not None and size != file.size:
            return f"has {size:,} bytes, not {file.size:,}"
        actual = sha256_file(path)
        if actual == file.sha256:
            return None
        if file.members_digest is None:
            return f"has sha256 {actual}, not {file.sha256}"
    return _members_problem(file, path)


def _members_problem(file: DataFile, path: Path) -> str | None:
    try:
        found = members_digest(path)
    except DataCorrupt as exc:
        return f"cannot be read ({exc.__cause__})"
    return None if found == file.members_digest else f"has members digest {found}, not {file.members_digest}"


def require(file: DataFile, root: Path) -> Path:
    """The verified path of ``file`` in the data dir ``root``; a clear error if missing or corrupt."""
    if not (root / file.path).exists():
        raise DataMissing(missing_message(file, root))
    return verify(file, root)


def present(files: tuple[DataFile, ...], root: Path) -> tuple[DataFile, ...]:
    """The files that exist in ``root`` (not yet verified)."""
    return tuple(f for f in files if (root / f.path).exists())
