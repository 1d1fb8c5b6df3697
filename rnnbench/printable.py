"""Text from plugins and records, shown as itself: control characters written as visible escapes.

An error message, a kernel path, a machine name or a run id is text rnnbench
did not write. Raw, an escape sequence in it clears the terminal that shows it
(a run's progress, ``cat report.md``), sets its window title or forges a line;
a bidirectional override shows one text as another ("Trojan Source",
CVE-2021-42574); its bytes go on into Markdown and CSV files. Every place that
shows such text (the terminal, every report format) passes it through
``printable`` once, after which each format escapes its own markup.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls (Unicode category Cc), as Python writes them in a string literal.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS |= {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
# The bidirectional marks, embeddings, overrides and isolates, and the Unicode line and paragraph separators.
_BIDI = {code: f"\\u{code:04x}" for code in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F),
                                             *range(0x2066, 0x206A))}
ONE_LINE = str.maketrans(_CONTROLS | _BIDI)
# Several lines: newlines and tabs kept (a multi-line error message stays readable), the rest escaped.
LINES = str.maketrans({code: text for code, text in (_CONTROLS | _BIDI).items() if code not in (0x09, 0x0A)})


def printable(text: object, one_line: bool = True) -> str:
    """``text`` as a string with every control character and bidirectional control written as its escape
    (ESC as ``\\x1b``); newlines and tabs too unless ``one_line`` is False."""
    return str(text).translate(ONE_LINE if one_line else LINES)
