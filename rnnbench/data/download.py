"""Download one file from its canonical URL: a progress bar, a sha256 check, an atomic move.

pooch.retrieve streams into a temporary file beside the target and moves it
into place only when its sha256 matches, so a failed or corrupt download
never leaves a file that could be used. The transfer itself is ours: requests
with the response closed on every path (pooch's own leaks the connection
when the server answers with an error) and a rich progress bar (pooch's
needs tqdm). pooch and requests are imported lazily, so importing rnnbench
stays light.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnbench.data.catalog import DataFile
from rnnbench.data.datadir import is_writable
from rnnbench.data.errors import DataCorrupt, DataMissing

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 30.0  # per connect and per read, not for the whole file


class Transfer:
    """A pooch downloader: ``transfer(url, output_file, pooch)`` writes the bytes at ``url`` to a file."""

    def __init__(self, label: str, progress: bool) -> None:
        self.label, self.progress = label, progress

    def __call__(self, url: str, output_file: str, pooch: object) -> None:
        import requests
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with requests.get(url, stream=True, timeout=TIMEOUT_S) as response, \
                Progress(*columns, console=Console(stderr=True), disable=not self.progress) as bar:
            response.raise_for_status()
            task = bar.add_task(self.label, total=int(response.headers.get("content-length", 0)) or None)
            with open(output_file, "wb") as out:
                for chunk in response.iter_content(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(task, advance=len(chunk))


def download(file: DataFile, root: Path, *, progress: bool = True) -> Path:
    """Download ``file`` into the data dir ``root``, verified; a one-line error when that fails."""
    target = root / file.path
    if not is_writable(root):
        raise DataMissing(f"{file.path} is not in the data dir {root}, which is read-only: put it at "
                          f"{target} (from {file.url}) or choose a writable data dir (--data-dir or "
                          "$RNNBENCH_DATA_DIR)")
    import pooch
    import requests

    try:
        with _quiet(pooch.get_logger()):
            pooch.retrieve(file.url, known_hash=f"sha256:{file.sha256}", fname=target.name,
                           path=target.parent, downloader=Transfer(file.path, progress))
    except requests.RequestException as exc:
        raise DataMissing(f"{file.path} could not be downloaded from {file.url} ({type(exc).__name__}); "
                          f"put the file at {target} yourself (sha256 {file.sha256})") from exc
    except ValueError as exc:  # pooch: the downloaded bytes have another hash; it deleted them
        raise DataCorrupt(f"{file.path} downloaded from {file.url} does not have sha256 {file.sha256}; "
                          f"nothing was saved at {target}") from exc
    return target


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Silence pooch's "Downloading data from ..." log line; the progress bar says it."""
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
