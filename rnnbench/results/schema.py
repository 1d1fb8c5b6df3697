"""The record schema: its version, the statuses, the fields, how a record is built, validated and migrated.

The manager builds its records through ``build_record``; the pytest-benchmark
reader (``rnnbench.results.pytest_benchmark``) fills the same fields for its
own; every reader validates records here after migrating, so the schema lives
in one module that imports no other part of the results layer.

A record (schema 4) is one case's measurement in one worker process. Besides the case (``config``)
and what the worker measured (``throughput``, ``memory``, ``accuracy``,
``latency``, ``runtime``, ``versions``, ``spec``, ``optimizer``, ``batch``) it carries:

- ``case_key``: the case without its round, written by whoever knew the
  case (never parsed back out of ``case_id``), so rounds and runs meet;
- ``workload``: a fingerprint of what was computed (task, cell, spec,
  optimizer, batch shape, data, profile, seed, task options); two records
  with different fingerprints measured different work and are not compared.
  A spec or optimizer field at its default is left out of it, so a field
  added to the contract later (``tf32: false``) leaves the fingerprints of
  older records, which lack it, unchanged;
- ``data``: "real" (the task's data) or "synthetic" (seeded random batches
  of the same shapes), as fed, not as asked;
- ``headline``: the task's headline metric and its goal, so reports need no
  installed plugin to name it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Any

from rnnbench.errors import RnnbenchError
from rnnbench.spec import ModelSpec, OptimizerSpec

SCHEMA_VERSION = 4
# "lost": the machine that ran the case disappeared (a Ray node died); --resume runs it again.
STATUSES = ("ok", "failed", "crashed", "timeout", "oom", "nan", "skipped", "lost")
LOST = "lost"
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": int, "run_id": str, "case_id": str, "backend": str, "task": str, "cell": str,
    "device": str, "mode": str, "config": dict, "status": str, "duration_s": (int, float),
    "case_key": str, "workload": str, "data": str,
}
DATA = ("real", "synthetic")
# What makes two measurements the same work; a record's workload is the hash of these.
WORKLOAD_FIELDS = ("task", "cell", "spec", "optimizer", "batch", "data")
WORKLOAD_CONFIG = ("profile", "dtype", "seed", "task_options")
# The round suffix of a schema-2 case id, for migrating those records only.
_LEGACY_ROUND = re.compile(r"(-t\d+-s-?\d+)-r\d+(?=/|$)")


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


def _v2_to_v3(record: dict[str, Any]) -> dict[str, Any]:
    """Schema 3 adds case_key, workload, data and headline; for schema 2 they follow from the record.

    Schema 2 wrote ``synthetic: False`` for sweeps that fed synthetic batches
    (a batch_size or seq_len override); their data is "synthetic" here.
    """
    record = dict(record)
    record.setdefault("case_key", _LEGACY_ROUND.sub(r"\1", str(record.get("case_id", "")), count=1))
    config = _config(record)
    swept = config.get("batch_size") is not None or config.get("seq_len") is not None
    fed_synthetic = config.get("synthetic") or (swept and record.get("mode") != "accuracy")
    record.setdefault("data", "synthetic" if fed_synthetic else "real")
    record.setdefault("headline", None)
    record["workload"] = workload_fingerprint(record)
    record["schema"] = 3
    return record


def _v3_to_v4(record: dict[str, Any]) -> dict[str, Any]:
    """Schema 4 fingerprints the workload without the spec and optimizer fields at their defaults, and with
    the seed: schema 3's fingerprint changed whenever the contract gained a field, so no run compared with
    an older one."""
    record = dict(record)
    record["workload"] = workload_fingerprint(record)
    record["schema"] = 4
    return record


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def _config(record: dict[str, Any]) -> dict[str, Any]:
    config = record.get("config")
    return config if isinstance(config, dict) else {}


def workload_fingerprint(record: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over what the record computed; equal fingerprints, equal work."""
    config = _config(record)
    what = {key: record.get(key) for key in WORKLOAD_FIELDS} | {key: config.get(key) for key in WORKLOAD_CONFIG}
    what["spec"], what["optimizer"] = _without_defaults(what["spec"], ModelSpec), _without_defaults(
        what["optimizer"], OptimizerSpec)
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _without_defaults(section: object, kind: type) -> object:
    """A spec or optimizer section without the fields that hold their dataclass default."""
    if not isinstance(section, dict):
        return section
    defaults = {f.name: f.default for f in dataclasses.fields(kind) if f.default is not dataclasses.MISSING}
    return {key: value for key, value in section.items() if key not in defaults or value != defaults[key]}


def build_record(*, run_id: str, case: dict[str, Any], case_id: str, case_key: str, status: str,
                 error: str | None, measured: dict[str, Any], machine: str, started_at: str,
                 duration_s: float, headline: dict[str, Any] | None = None) -> dict[str, Any]:
    """One schema-versioned record: the case (as a dict), what was measured, how it ended.

    ``measured`` holds the worker document's sections (or none, for a case
    that left none); its ``data`` says what was fed, else the case's choice.
    """
    record = {key: value for key, value in measured.items() if key not in ("status", "error")}
    record.update({
        "schema": SCHEMA_VERSION, "run_id": run_id, "case_id": case_id, "case_key": case_key,
        "backend": case["backend"], "task": case["task"], "cell": case["cell"], "device": case["device"],
        "mode": case["mode"], "config": case, "status": status, "error": error, "machine": machine,
        "started_at": started_at, "duration_s": round(duration_s, 6),
    })
    if record.get("data") is None:  # a worker that died before it knew what it fed
        record["data"] = "synthetic" if case.get("synthetic") else "real"
    if record.get("headline") is None:
        record["headline"] = headline
    return record | {"workload": workload_fingerprint(record)}


def migrate(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record of any known schema version up to ``SCHEMA_VERSION``."""
    version = record.get("schema")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < min(MIGRATIONS, default=1):
        raise ResultsError(f"record schema {version!r} is not supported. Accepted: 1 to {SCHEMA_VERSION}")
    while record["schema"] < SCHEMA_VERSION:
        record = MIGRATIONS[record["schema"]](record)
    return record


def validate(record: dict[str, Any]) -> dict[str, Any]:
    """Raise ResultsError unless ``record`` is a record of this schema, its sections included."""
    if not isinstance(record, dict):
        raise ResultsError(f"a record is {type(record).__name__} {record!r:.40}. Accepted: a JSON object")
    for field, kind in REQUIRED.items():
        if not isinstance(record.get(field), kind):
            raise ResultsError(f"record field {field!r} is {record.get(field)!r}. Accepted: {kind}")
    if record["status"] not in STATUSES:
        raise ResultsError(f"record status {record['status']!r} is not valid. Accepted: {', '.join(STATUSES)}")
    if record["data"] not in DATA:
        raise ResultsError(f"record data {record['data']!r} is not valid. Accepted: {', '.join(DATA)}")
    _validate_sections(record)
    return record


def _validate_sections(record: dict[str, Any]) -> None:
    """The measured sections: objects where present, samples as lists of finite numbers."""
    for section in ("throughput", "memory", "accuracy", "latency", "runtime", "spec", "optimizer", "batch",
                    "headline", "subnormal", "process"):
        value = record.get(section)
        if value is not None and not isinstance(value, dict):
            raise ResultsError(f"record section {section!r} is {value!r:.40}. Accepted: a JSON object or null")
    for kind, block in (record.get("throughput") or {}).items():
        if block is None:
            continue
        if not isinstance(block, dict):
            raise ResultsError(f"throughput.{kind} is {block!r:.40}. Accepted: a JSON object or null")
        samples = block.get("samples_s")
        if samples is not None and not (isinstance(samples, list) and all(
                isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) and s >= 0
                for s in samples)):
            raise ResultsError(f"throughput.{kind}.samples_s is {samples!r:.60}. Accepted: a list of seconds >= 0")
        if not isinstance(block.get("summary"), dict):
            raise ResultsError(f"throughput.{kind}.summary is {block.get('summary')!r:.40}. Accepted: a JSON object")
    latency = record.get("latency") or {}
    for kind in LATENCY_KINDS:
        block = latency.get(kind)
        if block is not None and not (isinstance(block, dict) and _seconds_list(block.get("samples_s"))):
            raise ResultsError(f"latency.{kind} is {block!r:.60}. Accepted: null, or a JSON object whose samples_s "
                               "is a list of seconds >= 0")


LATENCY_KINDS = ("whole", "streaming")  # the latency section's measurements: a whole sequence, one streamed step


def _seconds_list(samples: object) -> bool:
    return isinstance(samples, list) and bool(samples) and all(
        isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) and s >= 0 for s in samples)


# What a reader shows as a measurement, and the values it can take: a hand-edited or foreign file may hold
# Infinity, NaN (Python's json reads both), zero or a negative time, which no timer measures.
TIMINGS = ("median", "ci_low", "ci_high")  # seconds per call: finite and > 0 (None: not measured)
RATES = ("first_step_s", "samples_per_s", "samples_per_s_at_median", "tokens_per_s", "gflops", "peak_fraction")


# Sections a reader looks into that ``validate`` leaves alone (older schemas lack them): objects or null.
READ_SECTIONS = ("implementation", "conformance", "tuning", "flops", "items")


def impossible(record: dict[str, Any]) -> str | None:
    """What in a valid record cannot be a measurement, in one line naming the field and what is accepted; None
    when nothing. Readers leave such a record out (a report names it); the writer never checks it, so a run
    keeps whatever its worker measured."""
    for section in READ_SECTIONS:
        value = record.get(section)
        if value is not None and not isinstance(value, dict):
            return f"record section {section!r} is {value!r:.40}. Accepted: a JSON object or null"
    for kind, block in (record.get("throughput") or {}).items():
        found = _impossible_timing(f"throughput.{kind}", block) if isinstance(block, dict) else None
        if found:
            return found
    if any(isinstance(b, dict) and b["summary"].get("median") is not None
           for b in (record.get("throughput") or {}).values()):
        size = (record.get("batch") or {}).get("batch_size")
        if not (isinstance(size, int) and not isinstance(size, bool) and size > 0):
            return f"batch.batch_size is {size!r:.40} beside a timing. Accepted: a whole number > 0"
    for kind in LATENCY_KINDS:
        block = (record.get("latency") or {}).get(kind) or {}
        bad = next((name for name in ("p50_s", "p90_s", "p99_s", "max_s") if name in block
                    and not (_number(block[name]) and block[name] > 0)), None)
        if bad:
            return f"latency.{kind}.{bad} is {block[bad]!r:.40}. Accepted: seconds per call, a finite number > 0"
    return _impossible_accuracy(record.get("accuracy") or {}) or _impossible_memory(record.get("memory") or {}) or (
        None if isinstance(record.get("machine", ""), str) else
        f"machine is {record.get('machine')!r:.40}. Accepted: a string naming the machine")


def _impossible_timing(where: str, block: dict[str, Any]) -> str | None:
    summary = block["summary"]
    for name in TIMINGS:
        value = summary.get(name)
        if value is not None and not (_number(value) and value > 0):
            return f"{where}.summary.{name} is {value!r:.40}. Accepted: seconds per call, a finite number > 0"
    for name in RATES:
        value = block.get(name)
        if value is not None and not (_number(value) and value >= 0):
            return f"{where}.{name} is {value!r:.40}. Accepted: a finite number >= 0, or null"
    return None


def _impossible_accuracy(block: dict[str, Any]) -> str | None:
    target = block.get("time_to_target")
    seconds = target.get("train_seconds") if isinstance(target, dict) else None
    if seconds is not None and not (_number(seconds) and seconds >= 0):
        return f"accuracy.time_to_target.train_seconds is {seconds!r:.40}. Accepted: a finite number >= 0, or null"
    metrics = block.get("final_metrics") or {}
    if not isinstance(metrics, dict):
        return f"accuracy.final_metrics is {metrics!r:.40}. Accepted: a JSON object"
    bad = next((name for name, value in metrics.items() if value is not None and not _number(value)), None)
    if bad is not None:
        return f"accuracy.final_metrics.{bad} is {metrics[bad]!r:.40}. Accepted: a finite number, or null"
    return None


def _impossible_memory(block: dict[str, Any]) -> str | None:
    for name in ("baseline_rss_bytes", "peak_above_baseline_bytes"):
        value = block.get(name)
        if value is not None and not _number(value):
            return f"memory.{name} is {value!r:.40}. Accepted: a finite number of bytes, or null"
    device = block.get("device")
    value = device.get("peak_bytes") if isinstance(device, dict) else None
    if value is not None and not _number(value):
        return f"memory.device.peak_bytes is {value!r:.40}. Accepted: a finite number of bytes, or null"
    return None


def _number(value: object) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
