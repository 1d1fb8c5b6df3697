"""The worker's document: what a worker process writes for each case, and how the manager reads its end.

Both sides of the process boundary use this module, and it imports neither
(``rnnbench.worker`` writes documents, ``rnnbench.manager`` reads them). The
document's fields are described in ``rnnbench.worker.main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnbench import files

# Every key of a document, always present (None where the case did not get that far).
KEYS = ("status", "error", "traceback", "runtime", "versions", "spec", "optimizer", "batch", "items", "flops",
        "data", "headline", "throughput", "memory", "accuracy", "latency", "worker_seconds", "process",
        "implementation", "subnormal")
REQUIRED = ("status", "error")  # what the manager needs of a document to record it
STATUSES = ("ok", "nan", "oom", "failed", "lost")  # lost: set by an executor whose machine vanished

# Failures that mean "out of memory" although they are not MemoryError: torch's CPU allocator (RuntimeError),
# TensorFlow's ResourceExhaustedError, XLA's RESOURCE_EXHAUSTED, and what the C++ runtimes print as they die.
OOM_TYPES = ("OutOfMemoryError", "ResourceExhaustedError")
OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "resource_exhausted",
               "unable to allocate", "failed to allocate", "std::bad_alloc", "memoryerror")
OOM_WORDS = ("OOM",)  # matched as written: "oom" inside other words ("room", "zoom") is no verdict


def is_oom(exc: BaseException) -> bool:
    """Whether an exception raised in a worker means that it ran out of memory."""
    return isinstance(exc, MemoryError) or type(exc).__name__ in OOM_TYPES or says_oom(str(exc))


def says_oom(text: str) -> bool:
    """Whether ``text`` (an error message, or the output of a worker that died) says memory ran out."""
    lowered = text.lower()
    return any(marker in lowered for marker in OOM_MARKERS) or any(word in text.split() for word in OOM_WORDS)


def write_document(path: str | Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` so that the file either does not exist or holds the whole document (strict JSON)."""
    files.write_atomic(Path(path), json.dumps(doc, allow_nan=False))
