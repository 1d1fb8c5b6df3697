"""Data dir, sha256 checks, fetch/verify/list, and downloads (from a local HTTP server, never the network)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from paths import MIRROR

from rnnbench.cli.data import data_group
from rnnbench.data.catalog import DATASETS, DataFile, dataset
from rnnbench.data.datadir import data_dir, derived_dir, is_writable, require, verify
from rnnbench.data.download import download
from rnnbench.data.errors import DataCorrupt, DataMissing
from rnnbench.data.fetch import fetch, status, verify_all
from rnnbench.errors import UsageError

TINY = DATASETS["tinyshakespeare"].parts[0].choices[0]
ETTH1 = DATASETS["ett"].parts[0].choices[0]
REPACK = "imdb/aclImdb_v1_labeled.tar.gz"


@pytest.fixture(scope="module")
def mirror() -> Path:
    if not (MIRROR / REPACK).is_file():
        pytest.skip(f"no data mirror at {MIRROR} (set RNNBENCH_DATA_DIR)")
    return MIRROR


@pytest.fixture
def copy(mirror: Path, tmp_path: Path) -> Path:
    """A writable copy of the mirror (the mirror's files and folders are read-only)."""
    root = tmp_path / "data"
    shutil.copytree(mirror, root, copy_function=shutil.copyfile)
    for folder, _, _ in os.walk(root):
        os.chmod(folder, 0o755)
    return root


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_registry_matches_the_manifest(mirror):
    manifest = json.loads((mirror / "manifest.json").read_text())
    facts = {f["file"]: f for f in manifest["files"]}
    known = {f.path: f for ds in DATASETS.values() for f in ds.files()}
    for path, fact in facts.items():
        if fact["identical_to_canonical"]:
            assert (known[path].sha256, known[path].size, known[path].url) == (
                fact["sha256"], fact["bytes"], fact["canonical_url"])
        else:  # the repacked IMDB tarball: known by its members
            assert known[path].members_digest == fact["members_digest_sha256"] and known[path].sha256 is None
            canonical = known["imdb/aclImdb_v1.tar.gz"]
            assert (canonical.sha256, canonical.size) == (fact["canonical_sha256"], fact["canonical_size"])
    npz = {f["file"]: f for f in manifest["not_included"]}["imdb/imdb.npz"]
    assert (known["imdb/imdb.npz"].sha256, known["imdb/imdb.npz"].size) == (npz["canonical_sha256"],
                                                                            npz["canonical_size"])


def test_unknown_dataset_lists_the_known_ones():
    message = r"^Unknown dataset 'mnist'. Available: airline, ett, imdb, tinyshakespeare$"
    with pytest.raises(UsageError, match=message):
        dataset("mnist")


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNBENCH_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("RNNBENCH_DATA_DIR")
    assert data_dir().parts[-2:] == ("rnnbench", "data")


def test_read_only_data_dir_sends_derived_arrays_elsewhere(monkeypatch, tmp_path):
    monkeypatch.delenv("RNNBENCH_CACHE_DIR", raising=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)  # even root, who passes os.access, must treat it as read-only
    try:
        assert not is_writable(locked) and is_writable(tmp_path / "new" / "folder")
        assert derived_dir(tmp_path) == tmp_path / "derived"
        assert derived_dir(locked).parts[-2:] == ("rnnbench", "derived")
        monkeypatch.setenv("RNNBENCH_CACHE_DIR", str(tmp_path / "cache"))
        assert derived_dir(locked) == tmp_path / "cache"
    finally:
        locked.chmod(0o755)


def test_verify_accepts_the_mirror_including_the_repack_by_its_members(mirror):
    reports = verify_all("all", mirror)
    assert {(r.path, r.state) for r in reports} == {
        ("tinyshakespeare/input.txt", "ok"), ("imdb/imdb_word_index.json", "ok"), (REPACK, "ok"),
        ("ett/ETTh1.csv", "ok"), ("ett/ETTh2.csv", "ok"), ("airline/airline-passengers.csv", "ok")}


def test_fetch_all_on_a_copy_verifies_every_file_and_downloads_nothing(copy):
    reports = list(fetch("all", copy, progress=False))
    assert [r.state for r in reports] == ["ok"] * 6
    assert [row.state for row in status("all", copy)] == ["cached"] * 4


@pytest.mark.parametrize("path", [TINY.path, REPACK])  # the first file fetched; the one known by its members
def test_one_byte_changed_fails_with_the_clear_error(copy, path):
    flip_middle_byte(copy / path)
    with pytest.raises(DataCorrupt) as caught:
        list(fetch("all", copy, progress=False))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path} in the data dir {copy} ")
    assert f"it was not used: delete {copy / path} and download it again from https://" in message


def test_a_corrupt_file_is_never_loaded(copy):
    from rnnbench.data.series import load_etth1

    flip_middle_byte(copy / ETTH1.path)
    with pytest.raises(DataCorrupt, match="has sha256 [0-9a-f]{64}, not f18de3ad"):
        load_etth1(copy)


def test_missing_file_says_where_and_from_which_url(copy):
    (copy / TINY.path).unlink()
    with pytest.raises(DataMissing) as caught:
        require(TINY, copy)
    assert str(caught.value) == (
        f"tinyshakespeare/input.txt is not in the data dir {copy}: expected at {copy / TINY.path}; "
        f"download it from {TINY.url} (or run `rnnbench data fetch`)")
    assert [r.state for r in verify_all("tinyshakespeare", copy)] == ["missing"]
    assert [row.state for row in status("tinyshakespeare", copy)] == ["missing"]


def test_size_mismatch_is_caught_before_hashing(copy):
    with (copy / TINY.path).open("ab") as stream:
        stream.write(b"x")
    with pytest.raises(DataCorrupt, match="has 1,115,395 bytes, not 1,115,394"):
        verify(TINY, copy)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on a free port, serving a temporary folder."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_verifies_and_places_the_file(mirror, server, tmp_path):
    url, served = server
    shutil.copyfile(mirror / TINY.path, served / "input.txt")
    local = DataFile(TINY.path, f"{url}/input.txt", TINY.sha256, TINY.size)
    root = tmp_path / "fresh"
    assert download(local, root, progress=True) == root / TINY.path
    verify(TINY, root)


def test_download_with_the_wrong_bytes_saves_nothing(server, tmp_path):
    url, served = server
    (served / "input.txt").write_text("not Shakespeare")
    local = DataFile(TINY.path, f"{url}/input.txt", TINY.sha256, TINY.size)
    with pytest.raises(DataCorrupt, match=f"does not have sha256 {TINY.sha256}; nothing was saved at"):
        download(local, tmp_path, progress=False)
    assert list((tmp_path / "tinyshakespeare").iterdir()) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("error", ["ConnectionError", "HTTPError"])
def test_offline_download_names_file_place_and_url(server, tmp_path, error):
    refused, not_found = f"http://127.0.0.1:{closed_port()}/input.txt", f"{server[0]}/missing.txt"
    url = refused if error == "ConnectionError" else not_found
    offline = DataFile(TINY.path, url, TINY.sha256, TINY.size)
    with pytest.raises(DataMissing) as caught:
        download(offline, tmp_path, progress=False)
    assert str(caught.value) == (
        f"{TINY.path} could not be downloaded from {url} ({error}); "
        f"put the file at {tmp_path / TINY.path} yourself (sha256 {TINY.sha256})")
    assert list((tmp_path / "tinyshakespeare").iterdir()) == []


def test_download_into_a_read_only_data_dir_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(DataMissing, match=f"which is read-only: put it at {locked / TINY.path} "):
            download(TINY, locked, progress=False)
    finally:
        locked.chmod(0o755)


def test_cli_fetch_list_verify(copy):
    runner = CliRunner()
    fetched = runner.invoke(data_group, ["--data-dir", str(copy), "fetch", "ett"])
    assert fetched.exit_code == 0, fetched.output
    assert fetched.output.splitlines() == [f"ok         ett              {copy / 'ett' / name}"
                                           for name in ("ETTh1.csv", "ETTh2.csv")]
    listed = runner.invoke(data_group, ["list", "--json", "--data-dir", str(copy)])
    rows = json.loads(listed.output)["datasets"]
    assert [(r["name"], r["state"]) for r in rows] == [
        ("tinyshakespeare", "cached"), ("imdb", "cached"), ("ett", "cached"), ("airline", "cached")]
    assert rows[1]["files"] == ["imdb/imdb_word_index.json", REPACK]
    flip_middle_byte(copy / "airline/airline-passengers.csv")
    verified = runner.invoke(data_group, ["--data-dir", str(copy), "verify", "airline", "--json"])
    assert verified.exit_code == 1
    assert [f["state"] for f in json.loads(verified.output)["files"]] == ["corrupt"]
    failed = runner.invoke(data_group, ["--data-dir", str(copy), "fetch", "airline"])
    assert isinstance(failed.exception, DataCorrupt)


def test_cli_rejects_an_unknown_name():
    done = CliRunner().invoke(data_group, ["fetch", "mnist"])
    assert done.exit_code == 2 and "'mnist' is not one of" in done.output


WIRED = """
import sys
from rnnbench.cli import cli, main
from rnnbench.cli.data import data_group
cli.add_command(data_group)  # what rnnbench/cli.py does
try:
    main(sys.argv[1:])
finally:
    print("loaded:", [m for m in ("pooch", "requests") if m in sys.modules])
"""


def test_wired_into_rnnbench_one_line_error_and_no_pooch_unless_downloading(copy):
    flip_middle_byte(copy / "airline/airline-passengers.csv")
    env = {**os.environ, "RNNBENCH_DATA_DIR": str(copy)}
    done = subprocess.run([sys.executable, "-c", WIRED, "data", "fetch", "airline"], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("rnnbench: error: airline/airline-passengers.csv in the data dir ")
    assert "loaded: []" in done.stdout


def test_the_cli_group_imports_light_and_the_package_exports_resolve():
    code = ("import sys, rnnbench.cli.data, rnnbench.data as data; "
            "loaded = [m for m in ('numpy', 'pooch', 'requests', 'pandas') if m in sys.modules]; "
            "[getattr(data, name) for name in data.__all__]; print(loaded)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
