"""Executors: where the cases of a run execute, and how their outcomes come back to the manager.

An executor takes the cases still to run and yields a ``Finished`` for each
as it ends, in any order; the manager (``rnnbench.manager.runner``) turns every one
into a record with the same ``build_record``, validation and writer, so an
executor decides only *where* a case runs, never how it is measured or
recorded. ``local`` runs one case after another on this machine; ``ray``
sends each case to a Ray cluster as one task (``pip install "rnnbench[ray]"``),
one case at a time per node unless the run shares nodes.
"""

from __future__ import annotations

import importlib.util

from rnnbench.errors import UsageError
from rnnbench.manager.executors.base import EXECUTORS, Executor, Finished, Outcomes

__all__ = ["EXECUTORS", "Executor", "Finished", "Outcomes", "make_executor"]

RAY_INSTALL_HINT = 'pip install "rnnbench[ray]"'


def make_executor(name: str, ray_address: str | None, run_id: str, share_nodes: bool = False) -> Executor:
    """The executor called ``name``; fails at once, before any run folder exists, when Ray is missing."""
    if name == "local":
        from rnnbench.manager.executors.local import LocalExecutor

        return LocalExecutor()
    if name != "ray":
        raise UsageError(f"executor={name!r} is not valid. Accepted: {', '.join(EXECUTORS)}")
    if importlib.util.find_spec("ray") is None:
        raise UsageError(f"executor 'ray' needs Ray, which is not installed. Accepted: --executor local, "
                         f"or install Ray with: {RAY_INSTALL_HINT}")
    from rnnbench.manager.executors.ray_cluster import RayExecutor

    return RayExecutor(ray_address, run_id, share_nodes)
