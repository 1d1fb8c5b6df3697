"""MkDocs hook: links from a page to a repository file outside docs/.

The pages link to source files (`../rnnbench/params.py`) so that they work
where the repository is browsed (GitHub, an editor). The built site holds
only docs/, so there such a link would be broken and `mkdocs build --strict`
would warn. This hook turns a link whose target exists in the repository
into a link to `repo_url` (when mkdocs.yml sets one), else into its plain
text. A link to a file that does not exist is left alone, so strict mode
still fails on it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

# [text](target) not preceded by "!" (images are left alone); target without spaces or a title.
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]+)\]\((?P<target>[^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite the links of one page that leave docs/; code fences are left as they are."""
    docs_dir = Path(config["docs_dir"]).resolve()
    page_dir = posixpath.dirname(page.file.src_uri)
    repo_url = (config.get("repo_url") or "").rstrip("/")
    out, in_fence = [], False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line.lstrip()):
            in_fence = not in_fence
        if not in_fence:
            line = _LINK.sub(lambda m: _rewrite(m, docs_dir, page_dir, repo_url), line)
        out.append(line)
    return "".join(out)


def _rewrite(match: re.Match[str], docs_dir: Path, page_dir: str, repo_url: str) -> str:
    """The replacement for one link: unchanged unless it leaves docs/ for a file that exists."""
    target = match["target"]
    if re.match(r"^[a-z][a-z0-9+.-]*:|^[#/]", target):  # a URL, an anchor or an absolute path
        return match[0]
    path, _, anchor = target.partition("#")
    relative = posixpath.normpath(posixpath.join(page_dir, path))
    if not relative.startswith("../"):  # inside docs/: MkDocs checks it
        return match[0]
    on_disk = (docs_dir / relative).resolve()
    if not on_disk.exists() or not on_disk.is_relative_to(docs_dir.parent):  # missing, or outside the repository
        return match[0]
    if not repo_url:
        return match["text"]
    repo_path = on_disk.relative_to(docs_dir.parent).as_posix()
    kind = "tree" if on_disk.is_dir() else "blob"
    return f"[{match['text']}]({repo_url}/{kind}/HEAD/{repo_path}{'#' + anchor if anchor else ''})"
