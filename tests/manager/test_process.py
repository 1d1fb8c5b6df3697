"""The one launcher's concurrent runs and progress-aware timeouts, with real child processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from rnnbench.manager.process import Job, run_concurrently, run_process


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_concurrent_jobs_each_end_on_their_own_and_a_late_one_is_killed(tmp_path: Path) -> None:
    quick = Job(_python("print('done')"), 60.0, 1, tmp_path / "quick.log")
    hangs = Job(_python("import time; time.sleep(60)"), 1.0, 1, tmp_path / "hangs.log")
    ended = dict(run_concurrently([hangs, quick], parallel=2))

    assert ended[quick].returncode == 0 and not ended[quick].timed_out
    assert "done" in ended[quick].output_tail
    assert ended[hangs].timed_out and ended[hangs].returncode is None


def test_closing_a_concurrent_run_early_kills_the_children_still_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    slow = Job(_python(f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"),
               60.0, 1, tmp_path / "slow.log")
    quick = Job(_python("pass"), 60.0, 1, tmp_path / "quick.log")
    runs = run_concurrently([quick, slow], parallel=2)
    assert next(runs)[0] is quick
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.05)
    runs.close()  # what Ctrl-C in the manager does to the generator

    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_the_timeout_restarts_each_time_the_child_reports_progress(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    # Four parts of 1 s each: 4 s in all, over a 3 s timeout that each part alone is well within.
    code = f"import time\nfor n in range(4):\n    time.sleep(1.0)\n    open({str(marks)!r}, 'a').write('x')\n"
    seen = [0]

    def progressed() -> bool:
        count = len(marks.read_text()) if marks.exists() else 0
        moved, seen[0] = count > seen[0], count
        return moved

    assert not run_process(_python(code), 3.0, 1, tmp_path / "parts.log", progressed).timed_out
    assert run_process(_python(code), 3.0, 1, tmp_path / "whole.log").timed_out  # one clock for the whole


def test_what_a_child_leaves_in_its_temporary_folder_goes_with_it(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    leaves = ("import os, tempfile; fd, name = tempfile.mkstemp(suffix='.py'); print(name, flush=True); "
              "os._exit(0)")  # as a worker does: no exit handlers, which is where autograph cleans up
    ended = run_process([sys.executable, "-c", leaves], 60.0, 1, tmp_path / "log")
    left = Path(ended.output_tail.strip())
    assert ended.returncode == 0 and left.parent.parent == tmp_path / "tmp"  # it wrote into a TMPDIR of its own
    assert not left.exists() and list((tmp_path / "tmp").iterdir()) == []
