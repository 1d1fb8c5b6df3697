"""A report section a plugin adds (hook ``rnnbench_report_sections``): a title, a sentence, and a table.

Every renderer shows it after the core's sections: HTML (a section of its own,
in the page's navigation), Markdown (a ``##`` heading and a table); the CSV
report is the records alone and has no sections. Every string is text, shown
escaped, never markup: a plugin cannot inject HTML or control characters.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportSection:
    title: str
    note: str  # one sentence under the title: what the table shows
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # one cell per header, as text

    def __post_init__(self) -> None:
        texts = [self.title, self.note, *self.headers, *(cell for row in self.rows for cell in row)]
        if not all(isinstance(text, str) for text in texts):
            raise TypeError("a ReportSection holds text only: title, note, headers and every cell a str")
        if any(len(row) != len(self.headers) for row in self.rows):
            raise TypeError(f"every row of section {self.title!r} has one cell per header ({len(self.headers)})")
