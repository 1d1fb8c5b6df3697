"""Writing a file whole or not at all: the one atomic writer of every JSON file rnnbench keeps.

A reader (the manager polling a worker's document, a resumed run reading
``run.json``, a report) sees the old file or the new one, never part of
one, whatever is killed or whichever disk fills in the middle.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """``text`` as ``path``: a uniquely named temporary file beside it, flushed to disk, then renamed over it.

    The temporary name is unique, so two writers of one path never share one; its mode follows the umask
    as a plain ``open`` would (``mkstemp``'s 0600 would hide results from the other users of a shared
    folder). Any failure removes the temporary file and re-raises, leaving ``path`` as it was.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Flush the rename itself to disk, where the platform lets a folder be opened (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is still atomic
    finally:
        os.close(fd)


def current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask
