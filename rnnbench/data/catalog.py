"""Every dataset file rnnbench knows: where it lives, where it comes from, its digest.

The facts are copied from the data manifest (shared/data/MANIFEST.md) and
hard-coded here, so nothing reads the manifest at run time. Paths are POSIX
paths relative to the data dir, the same layout as the shared mirror.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnbench.errors import UsageError

STANFORD_IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets"
ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small"
# sha256 over sorted lines "<sha256 of member>  <member path>\n" of the 50,007 labelled members.
IMDB_MEMBERS_DIGEST = "1b451fb3de288ce393d5ea20db03b9825caf4832651be821eac02edb775b7b38"


@dataclass(frozen=True)
class DataFile:
    """One file (or extracted folder) and how to recognise its bytes.

    It is accepted when its sha256 matches, or, failing that, when the digest
    over its labelled members matches (a repacked tarball or an extracted
    folder holds the same members in different archive bytes).
    """

    path: str  # POSIX path relative to the data dir
    url: str  # where to download it from (for a repack or a folder: the canonical archive)
    sha256: str | None = None  # of the file's bytes; None when only the members identify it
    size: int | None = None  # bytes of the download, None when unknown
    members_digest: str | None = None  # digest over the labelled members of an archive or folder
    is_folder: bool = False  # an extracted archive rather than a file

    def __post_init__(self) -> None:
        if self.sha256 is None and self.members_digest is None:
            raise UsageError(f"DataFile {self.path!r} has no digest. Accepted: a sha256 or a members digest")
        if self.is_folder and self.sha256 is not None:
            raise UsageError(f"DataFile {self.path!r} is a folder with a sha256. Accepted: a members digest")

    @property
    def downloadable(self) -> bool:
        """Whether `fetch` can download these exact bytes from ``url``."""
        return self.sha256 is not None and not self.is_folder


@dataclass(frozen=True)
class Part:
    """One piece a dataset needs; any of ``choices`` will do, ``choices[0]`` is what `fetch` downloads."""

    name: str  # e.g. "reviews"
    choices: tuple[DataFile, ...]

    def __post_init__(self) -> None:
        if not self.choices or not self.choices[0].downloadable:
            raise UsageError(f"Part {self.name!r} has no downloadable first file. Accepted: one with sha256")


@dataclass(frozen=True)
class Dataset:
    """A named dataset: the parts it needs, and optionally one file that replaces them all."""

    name: str  # as on the command line: `rnnbench data fetch NAME`
    title: str  # one line for `rnnbench data list`
    parts: tuple[Part, ...]
    shortcut: DataFile | None = None  # when present and valid, no part is needed (Keras' imdb.npz)

    def files(self) -> tuple[DataFile, ...]:
        """Every file that may hold this dataset, shortcut first."""
        shortcut = (self.shortcut,) if self.shortcut else ()
        return shortcut + tuple(f for part in self.parts for f in part.choices)


def _single(name: str, path: str, url: str, sha256: str, size: int) -> Part:
    return Part(name, (DataFile(path, url, sha256, size),))


TINYSHAKESPEARE = _single(
    "text", "tinyshakespeare/input.txt",
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394)

IMDB_WORD_INDEX = _single(
    "word index", "imdb/imdb_word_index.json", f"{KERAS_DATASETS_URL}/imdb_word_index.json",
    "027313fe9a320280f3bf0fac5baf58c4a683cf39a7ed9c3d3d3912bde4284cf6", 1_641_221)

IMDB_REVIEWS = Part("reviews", (
    # The canonical Stanford tarball, accepted by its own hash.
    DataFile("imdb/aclImdb_v1.tar.gz", STANFORD_IMDB_URL,
             "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe", 84_125_825,
             members_digest=IMDB_MEMBERS_DIGEST),
    # A repack of its labelled part (the shared mirror holds one): only its members identify it.
    DataFile("imdb/aclImdb_v1_labeled.tar.gz", STANFORD_IMDB_URL, members_digest=IMDB_MEMBERS_DIGEST),
    DataFile("imdb/aclImdb", STANFORD_IMDB_URL, members_digest=IMDB_MEMBERS_DIGEST, is_folder=True),
))

IMDB_NPZ = DataFile("imdb/imdb.npz", f"{KERAS_DATASETS_URL}/imdb.npz",
                    "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f", 17_464_789)

ETTH1 = _single("ETTh1", "ett/ETTh1.csv", f"{ETT_URL}/ETTh1.csv",
                "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066", 2_589_657)
ETTH2 = _single("ETTh2", "ett/ETTh2.csv", f"{ETT_URL}/ETTh2.csv",
                "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b", 2_417_960)

AIRLINE = _single(
    "series", "airline/airline-passengers.csv",
    "https://raw.githubusercontent.com/jbrownlee/Datasets/master/airline-passengers.csv",
    "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621", 2_180)

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("tinyshakespeare", "Tiny Shakespeare: 1.1M characters of plays (char-RNN)", (TINYSHAKESPEARE,)),
    Dataset("imdb", "IMDB movie reviews, 25k train / 25k test (Maas et al. 2011), and the Keras word index",
            (IMDB_WORD_INDEX, IMDB_REVIEWS), shortcut=IMDB_NPZ),
    Dataset("ett", "Electricity Transformer Temperature, hourly: ETTh1 and ETTh2", (ETTH1, ETTH2)),
    Dataset("airline", "International airline passengers, monthly totals 1949-1960", (AIRLINE,)),
)}


def dataset(name: str) -> Dataset:
    """The dataset called ``name``; an unknown name lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UsageError(f"Unknown dataset {name!r}. Available: {', '.join(sorted(DATASETS))}") from None


def datasets(name: str = "all") -> tuple[Dataset, ...]:
    """One dataset by name, or every one for ``"all"``."""
    return tuple(DATASETS.values()) if name == "all" else (dataset(name),)
