"""The three data commands as functions: what is cached, fetch what is not, hash everything again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rnnbench.data.catalog import DataFile, Dataset, Part, datasets
from rnnbench.data.datadir import present, verify
from rnnbench.data.errors import DataError

FileState = Literal["ok", "downloaded", "missing", "corrupt"]
DatasetState = Literal["cached", "partial", "missing"]


@dataclass(frozen=True)
class FileReport:
    """What `fetch` or `verify` found for one file."""

    dataset: str
    path: str  # relative to the data dir
    state: FileState
    detail: str = ""  # the error message of a missing or corrupt file


@dataclass(frozen=True)
class DatasetStatus:
    """One row of `rnnbench data list`: found by presence only, nothing is hashed."""

    name: str
    title: str
    files: tuple[str, ...]  # the files present, or those `fetch` would download
    size: int  # bytes on disk when cached, else the download size
    state: DatasetState


def fetch(name: str, root: Path, *, progress: bool = True) -> Iterator[FileReport]:
    """Make every part of dataset ``name`` (or ``"all"``) present and verified; one report per file.

    It raises on the first missing or corrupt file: a corrupt file is never replaced silently.
    """
    for ds in datasets(name):
        if ds.shortcut is not None and (root / ds.shortcut.path).exists():
            verify(ds.shortcut, root)
            yield FileReport(ds.name, ds.shortcut.path, "ok")
            continue
        for part in ds.parts:
            yield _fetch_part(ds.name, part, root, progress)


def _fetch_part(name: str, part: Part, root: Path, progress: bool) -> FileReport:
    found = present(part.choices, root)
    if found:
        verify(found[0], root)
        return FileReport(name, found[0].path, "ok")
    from rnnbench.data.download import download  # lazy: imports pooch

    download(part.choices[0], root, progress=progress)
    return FileReport(name, part.choices[0].path, "downloaded")


def verify_all(name: str, root: Path) -> list[FileReport]:
    """Hash again every present file of dataset ``name`` (or ``"all"``); never raises for a bad file."""
    reports = []
    for ds in datasets(name):
        files = present(ds.files(), root)
        reports += [_verify_one(ds.name, f, root) for f in files]
        reports += [FileReport(ds.name, p.choices[0].path, "missing") for p in _unsatisfied(ds, files)]
    return reports


def _verify_one(name: str, file: DataFile, root: Path) -> FileReport:
    try:
        verify(file, root)
    except DataError as exc:
        return FileReport(name, file.path, "corrupt", str(exc))
    return FileReport(name, file.path, "ok")


def _unsatisfied(ds: Dataset, found: tuple[DataFile, ...]) -> tuple[Part, ...]:
    if ds.shortcut in found:
        return ()
    return tuple(p for p in ds.parts if not set(p.choices) & set(found))


def status(name: str, root: Path) -> list[DatasetStatus]:
    """One row per dataset: which files are there and their size; nothing is hashed."""
    return [_status(ds, root) for ds in datasets(name)]


def _status(ds: Dataset, root: Path) -> DatasetStatus:
    found = present(ds.files(), root)
    chosen: tuple[DataFile, ...] = tuple((present(p.choices, root) or p.choices)[0] for p in ds.parts)
    if ds.shortcut is not None and ds.shortcut in found:
        chosen = (ds.shortcut,)
    here = [f for f in chosen if f in found]
    state: DatasetState = "cached" if len(here) == len(chosen) else "partial" if here else "missing"
    size = sum(_disk_size(root / f.path) if f in found else (f.size or 0) for f in chosen)
    return DatasetStatus(ds.name, ds.title, tuple(f.path for f in chosen), size, state)


def _disk_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
