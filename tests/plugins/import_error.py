"""Broken: fails while being imported, as a plugin with a missing dependency would."""

import rnnbench_dependency_that_does_not_exist  # noqa: F401
