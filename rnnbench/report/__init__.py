"""Reports built from ``rnnbench.load_results``: HTML, Markdown and CSV, run comparisons, a static site.

Nothing in this package imports a deep-learning framework.
"""

from __future__ import annotations
