"""The record schema: its version, the statuses, the required fields, validation and migrations.

Every reader and writer of records (the run folder store, the
pytest-benchmark reader, the manager) checks records here, so the schema
lives in one module that imports no other part of the results layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rnnbench.errors import RnnbenchError

SCHEMA_VERSION = 2
STATUSES = ("ok", "failed", "crashed", "timeout", "oom", "nan", "skipped")
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": int, "run_id": str, "case_id": str, "backend": str, "task": str, "cell": str,
    "device": str, "mode": str, "config": dict, "status": str, "duration_s": (int, float),
}


class ResultsError(RnnbenchError):
    """A results file that cannot be read or a record that breaks the schema."""


def _v1_to_v2(record: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (pre-release) timed training only and kept ``stderr``; schema 2 splits train/infer.

    A schema-1 throughput block is ``{"samples_s": [...], "first_step_s": x, ...}``
    for training; it becomes ``{"train": <that block>, "infer": None}``.
    """
    record = dict(record)
    throughput = record.get("throughput")
    if throughput is not None and "train" not in throughput:
        record["throughput"] = {"train": throughput, "infer": None}
    if "stderr" in record:
        record["stderr_tail"] = record.pop("stderr")
    record["schema"] = 2
    return record


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record of any known schema version up to ``SCHEMA_VERSION``."""
    version = record.get("schema")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < min(MIGRATIONS, default=1):
        raise ResultsError(f"record schema {version!r} is not supported. Accepted: 1 to {SCHEMA_VERSION}")
    while record["schema"] < SCHEMA_VERSION:
        record = MIGRATIONS[record["schema"]](record)
    return record


def validate(record: dict[str, Any]) -> dict[str, Any]:
    """Raise ResultsError unless ``record`` has every required field with its type and a known status."""
    for field, kind in REQUIRED.items():
        if not isinstance(record.get(field), kind):
            raise ResultsError(f"record field {field!r} is {record.get(field)!r}. Accepted: {kind}")
    if record["status"] not in STATUSES:
        raise ResultsError(f"record status {record['status']!r} is not valid. Accepted: {', '.join(STATUSES)}")
    return record
