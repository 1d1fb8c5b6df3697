"""Read the labelled IMDB members out of a tarball or an extracted folder, and digest them.

A tarball is identified by what it holds, not by its archive bytes: the
members digest is the sha256 over sorted lines ``"<sha256 of member>  <path>\\n"``
of the 50,007 labelled members (README, imdb.vocab, imdbEr.txt, the
train/test pos/neg reviews and their urls_*.txt). Other members (train/unsup,
*.feat) are skipped, so the canonical tarball, a repack of its labelled part
and an extracted ``aclImdb/`` folder all give the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from rnnbench.data.errors import DataCorrupt

ROOT = "aclImdb"
LABELLED = re.compile(
    r"aclImdb/(README|imdb\.vocab|imdbEr\.txt|(train|test)/urls_(pos|neg)\.txt|(train|test)/(pos|neg)/\d+_\d+\.txt)")


def iter_members(source: Path) -> Iterator[tuple[str, bytes]]:
    """(member path, bytes) of every labelled member, in archive (or directory-walk) order."""
    return _folder_members(source) if source.is_dir() else _tar_members(source)


def _tar_members(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        # Streamed (the canonical tarball is 84 MB), through gzip rather than tarfile's own
        # decompressor: read to the end, gzip checks the CRC-32 and length of the whole stream.
        with gzip.open(path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if member.isfile() and LABELLED.fullmatch(name):
                    yield name, archive.extractfile(member).read()  # type: ignore[union-attr]
            while stream.read(1 << 20):
                pass
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise DataCorrupt(f"{path} is not a readable tar.gz archive ({exc}); it was not used") from exc


def _folder_members(folder: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(folder.rglob("*")):
        name = f"{ROOT}/{file.relative_to(folder).as_posix()}"
        if file.is_file() and LABELLED.fullmatch(name):
            yield name, file.read_bytes()


class MembersDigest:
    """Accumulates the members digest while the members stream past (one read serves both)."""

    def __init__(self) -> None:
        self._lines: dict[str, str] = {}

    def add(self, name: str, data: bytes) -> None:
        self._lines[name] = f"{hashlib.sha256(data).hexdigest()}  {name}\n"

    @property
    def count(self) -> int:
        return len(self._lines)

    def hexdigest(self) -> str:
        text = "".join(self._lines[name] for name in sorted(self._lines))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def members_digest(source: Path) -> str:
    """The members digest of a tarball or folder (reads every labelled member once)."""
    digest = MembersDigest()
    for name, data in iter_members(source):
        digest.add(name, data)
    return digest.hexdigest()
