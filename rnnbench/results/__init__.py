"""The results layer: records on disk, their loader into a DataFrame, their statistics.

``store`` reads and writes run folders (records, run, environment),
``pytest_benchmark`` reads pytest-benchmark JSON as records, ``frame`` is
``load_results`` and ``stats`` the summaries every report uses.
"""

from rnnbench.results.store import read_environment, read_environments, read_records

__all__ = ["read_environment", "read_environments", "read_records"]
