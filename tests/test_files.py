"""The one atomic writer: a file is whole or as it was, with the umask's mode, and no temporary left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rnnbench.errors import ResultsWriteError
from rnnbench.files import write_atomic
from rnnbench.results.store import write_json_file


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_atomic(path, '{"old": true}\n')
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, '{"new": "' + "x" * 100_000 + '\ud800"}')  # a lone surrogate fails at encoding
    assert path.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_the_mode_follows_the_umask_as_a_plain_open_would(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "shared.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o640  # not mkstemp's 0600


def test_a_json_file_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    with pytest.raises(ResultsWriteError, match=r"^could not write .*gone/run\.json: No such file or directory$"):
        write_json_file(folder / "run.json", {"a": 1})
    write_json_file(tmp_path / "run.json", {"b": [1, 2]})
    assert (tmp_path / "run.json").read_text() == '{\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
