import io

from rich.console import Console

from rnnbench.case import Case
from rnnbench.manager.progress import LiveDisplay, PlainLines

HOSTILE = "bad\x1b[2J\x1b]0;owned\x07\nforged line [10/10] ok"


def _output(reporter_class: type) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=reporter_class is LiveDisplay, color_system=None, width=200)
    reporter = reporter_class(console)
    case = Case(backend="evil\x1b[31m", task="airline", cell="gru", device="cpu", mode="throughput", threads=1)
    reporter.begin(1, 0)
    reporter.finish(case, {"status": "failed", "error": HOSTILE, "duration_s": 1.0})
    reporter.end()
    return out.getvalue()


def test_a_plugin_error_reaches_the_terminal_escaped_and_on_one_line():
    for reporter_class in (PlainLines, LiveDisplay):
        shown = _output(reporter_class)
        assert "\x1b[2J" not in shown and "\x1b]0;" not in shown and "\x07" not in shown and "evil\x1b" not in shown
        assert "bad\\x1b[2J\\x1b]0;owned\\x07\\nforged line" in shown
