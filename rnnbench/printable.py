"""Text from plugins and records made safe to show: control characters become visible escapes.

An error message, a plugin's description or a record's field is text rnnbench
did not write. Shown raw, an escape sequence in it clears the screen, retitles
the window or forges a line on a terminal, and its bytes go on into markdown
and CSV files. Every place that shows such text passes it through
``printable`` first; newlines and tabs are kept unless ``one_line`` is asked.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, one_line: bool = False) -> str:
    """``text`` as a string whose control characters (C0, DEL, C1, Unicode line separators and bidirectional
    overrides) are written as ``\\xNN``/``\\uNNNN``; with ``one_line``, newlines and tabs too."""
    return (_CONTROL_OR_BREAK if one_line else _CONTROL).sub(_visible, str(text))
