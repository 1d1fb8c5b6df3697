"""pytest-benchmark JSON files as throughput records of the current schema, so CI's benchmarks join the reports.

A file written by pytest-benchmark (``--benchmark-json FILE``, or
``--benchmark-autosave`` / ``--benchmark-save`` under its storage folder)
holds ``machine_info``, ``commit_info``, ``datetime`` and one entry per
benchmark. Every benchmark made by rnnbench's micro-benchmarks
(rnnbench/testing/micro.py: ``extra_info["rnnbench"]`` is set) becomes one
record:

- task ``micro``, mode ``throughput``, status ``ok``; backend, cell, device,
  shape, spec, kernel path, settings and versions from ``extra_info``;
- ``throughput.train`` for a training-step benchmark, ``throughput.infer``
  for a forward one: the per-round samples (``stats.data``, present with
  ``--benchmark-json`` and with ``--benchmark-save-data``) summarised by
  rnnbench.results.stats, or, without them, pytest-benchmark's own summary (no
  confidence interval then); rates (samples/s, tokens/s, GFLOP/s) as total
  items over total time (the mean call), as the worker's records and
  micro.py's ``extra_info["gflops"]`` have them (the report's samples/s
  column is taken at the median step time, from the summary);
- ``machine`` as rnnbench names machines (recorded in ``extra_info``), else
  built from ``machine_info``; ``run_id`` the file's name, with the run's
  date and time appended when the name holds no time stamp.

Other benchmarks in the file (say, a tutorial comparison) carry no rnnbench
shape and are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from rnnbench.results.schema import SCHEMA_VERSION, ResultsError, impossible, validate, workload_fingerprint
from rnnbench.results.stats import UNSTABLE_SPREAD, summarize

TASK = "micro"
KIND = {"train_step": "train", "forward": "infer"}  # extra_info kind -> throughput block
TOP_LEVEL = ("machine_info", "benchmarks", "datetime")  # keys every pytest-benchmark file has
STAMP = re.compile(r"\d{8}[_-]\d{6}")  # YYYYMMDD_HHMMSS in a file name


def is_benchmark_file(path: Path) -> bool:
    """True for a readable JSON file written by pytest-benchmark."""
    path = Path(path)
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        document = _load(path.resolve(), path.stat().st_mtime_ns)
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and all(key in document for key in TOP_LEVEL)


def benchmark_files(folder: Path) -> list[Path]:
    """pytest-benchmark files in ``folder`` or one level below (its storage keeps one folder per machine)."""
    candidates = sorted(Path(folder).glob("*.json")) + sorted(Path(folder).glob("*/*.json"))
    return [path for path in candidates if is_benchmark_file(path)]


@lru_cache(maxsize=32)
def _load(path: Path, mtime_ns: int) -> Any:  # mtime in the key: a rewritten file is read again
    return json.loads(path.read_text(encoding="utf-8"))


def read_document(path: Path) -> dict[str, Any]:
    """The parsed file; ResultsError naming it when it is not a pytest-benchmark file."""
    if not is_benchmark_file(path):
        raise ResultsError(f"{path} is not a pytest-benchmark JSON file. Accepted: a file written by "
                           "--benchmark-json or --benchmark-autosave, with machine_info, benchmarks and datetime")
    return _load(Path(path).resolve(), Path(path).stat().st_mtime_ns)


def read_records(path: Path, skipped: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """One validated throughput record per rnnbench micro-benchmark in the file.

    A benchmark that cannot be read as one is an error naming the file and the benchmark, or, when
    ``skipped`` is a list, noted there and left out (as ``store.read_records`` does with a bad line).
    """
    document = read_document(path)
    if not isinstance(document["benchmarks"], list):
        raise ResultsError(f"{path}: benchmarks is {document['benchmarks']!r:.40}. Accepted: a list")
    run_id = run_id_of(Path(path), document)
    for number, bench in enumerate(document["benchmarks"], 1):
        if isinstance(bench, dict) and (bench.get("extra_info") or {}).get("rnnbench") is None:
            continue
        try:
            yield _checked(bench, document, run_id, Path(path))
        except ResultsError as exc:
            name = bench.get("fullname") if isinstance(bench, dict) else None
            message = f"{path}: benchmark {number} ({name!r:.60}): {exc}"
            if skipped is None:
                raise ResultsError(message) from None
            skipped.append(message)


def _checked(bench: object, document: dict[str, Any], run_id: str, path: Path) -> dict[str, Any]:
    """The benchmark's record, validated and checked as ``store.read_records`` checks a line."""
    try:
        found = record(bench, document, run_id, path)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as exc:
        raise ResultsError(f"not a benchmark rnnbench wrote ({type(exc).__name__}: {exc}). Accepted: one "
                           "made by rnnbench's micro-benchmarks (extra_info.rnnbench, stats)") from None
    found = validate(found | {"workload": workload_fingerprint(found)})
    if problem := impossible(found):
        raise ResultsError(problem)
    return found


def run_id_of(path: Path, document: dict[str, Any]) -> str:
    """The file's stem; the run's date and time are appended unless the stem holds a time stamp
    (autosaved names do: ``0001_<commit>_20261122_091654_uncommitted-changes``)."""
    if STAMP.search(path.stem):
        return path.stem
    try:
        return f"{path.stem}-{_started(document).strftime('%Y%m%d-%H%M%S')}"
    except ResultsError as exc:
        raise ResultsError(f"{path}: {exc}") from None


def _started(document: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(document["datetime"]))
    except ValueError as exc:
        raise ResultsError(f"datetime {document['datetime']!r} is not valid. Accepted: an ISO 8601 time") from exc


def record(bench: dict[str, Any], document: dict[str, Any], run_id: str, path: Path) -> dict[str, Any]:
    """The record (``rnnbench.results.schema``) of one micro-benchmark."""
    extra, stats = bench["extra_info"], bench["stats"]
    kind = KIND.get(extra.get("kind"), None)
    if kind is None:
        raise ResultsError(f"{path}: benchmark {bench.get('fullname')!r} has kind {extra.get('kind')!r}. "
                           f"Accepted: {', '.join(KIND)}")
    batch, steps = int(extra["batch_size"]), int(extra["seq_len"])
    settings, parity = extra.get("settings") or {}, extra.get("parity") or {}
    config = {
        "backend": extra["backend"], "task": TASK, "cell": extra["cell"], "device": extra["device"],
        "dtype": extra.get("dtype"), "profile": extra.get("shape"), "synthetic": True,
        "threads": extra.get("threads"), "flush_denormals": parity.get("flush_denormals") == "True",
        "repeat": 0, "batch_size": batch, "seq_len": steps, "hidden_size": extra.get("hidden_size"),
        "num_layers": extra.get("num_layers"), "warmup": extra.get("warmup"), "steps": stats.get("rounds"),
        "iterations": stats.get("iterations"),  # calls per round: each sample is a round's seconds per call
        "source": "pytest-benchmark",
    }
    return {
        "schema": SCHEMA_VERSION, "run_id": run_id, "case_id": bench["fullname"], "backend": extra["backend"],
        "task": TASK, "cell": extra["cell"], "device": extra["device"], "mode": "throughput", "config": config,
        "status": "ok", "error": None, "duration_s": float(stats["total"]),
        "machine": extra.get("machine") or machine_of(document),
        "started_at": document["datetime"], "spec": extra.get("spec"),
        "batch": {"batch_size": batch, "seq_len": steps},
        "items": {"samples_per_step": batch, "tokens_per_step": batch * steps},
        "flops": {"forward" if kind == "infer" else "train_step": extra.get("flops")},
        "runtime": {"kernel_path": extra.get("kernel_path"), "settings": settings},
        "versions": extra.get("versions") or {},
        "throughput": {kind: block(stats, extra, batch, steps), ("infer" if kind == "train" else "train"): None},
        "memory": None, "accuracy": None,
        "benchmark": {"file": str(path), "name": bench.get("name"), "group": bench.get("group"),
                      "commit": document.get("commit_info") or {}},
        "case_key": bench["fullname"], "data": "synthetic", "headline": None,  # a benchmark has no rounds
    }


def block(stats: dict[str, Any], extra: dict[str, Any], batch: int, steps: int) -> dict[str, Any]:
    """The throughput block of one timed call kind, as rnnbench's worker writes it."""
    samples = [float(s) for s in stats.get("data") or []]
    summary = summarize(samples).to_dict() if samples else summary_of(stats)
    mean = float(summary["mean"])  # seconds per call: total time over calls, so rates are total items / total time
    flops = extra.get("flops")
    return {
        "first_step_s": extra.get("first_call_s"), "samples_s": samples or None, "summary": summary,
        "unstable": summary["relative_spread"] > UNSTABLE_SPREAD, "samples_per_s": batch / mean,
        "samples_per_s_at_median": batch / float(summary["median"]),
        "tokens_per_s": batch * steps / mean, "gflops": flops / mean / 1e9 if flops else None,
        "peak_fraction": None,  # no matmul peak is measured in a pytest-benchmark run
        "protocol": "pytest-benchmark", "calls_per_sample": stats.get("iterations") or 1,
        "min_block_s": extra.get("min_block_s"),
    }


def summary_of(stats: dict[str, Any]) -> dict[str, Any]:
    """pytest-benchmark's summary in rnnbench.results.stats' names; without the samples there is no interval."""
    median = float(stats["median"])
    iqr = float(stats["q3"]) - float(stats["q1"])
    return {"n": int(stats["rounds"]), "median": median, "q1": float(stats["q1"]), "q3": float(stats["q3"]),
            "mean": float(stats["mean"]), "stdev": float(stats["stddev"]), "min": float(stats["min"]),
            "max": float(stats["max"]), "ci_low": None, "ci_high": None, "confidence": None, "iqr": iqr,
            "relative_spread": iqr / median if median else float("inf")}


def machine_of(document: dict[str, Any]) -> str:
    """A machine name from pytest-benchmark's machine_info, for benchmarks that did not record rnnbench's."""
    info = document.get("machine_info") or {}
    cpu = (info.get("cpu") or {}).get("brand_raw") or info.get("processor") or info.get("machine") or "unknown CPU"
    return f"{info.get('node', 'unknown host')} ({cpu}, GPU not recorded)"


def environment(path: Path) -> dict[str, Any]:
    """The run's environment in environment.json's names, from machine_info, commit_info and extra_info."""
    try:
        return _environment(read_document(path))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"{path}: its machine_info cannot be read ({type(exc).__name__}: {exc}). Accepted: "
                           "a file written by pytest-benchmark") from None


def _environment(document: dict[str, Any]) -> dict[str, Any]:
    info, commit = document.get("machine_info") or {}, document.get("commit_info") or {}
    extras = [b.get("extra_info") or {} for b in document["benchmarks"]]
    ours = [e for e in extras if e.get("rnnbench") is not None]
    frameworks: dict[str, str] = {}
    for extra in ours:
        frameworks.update(extra.get("versions") or {})
    threads = {e.get("threads") for e in ours} - {None}
    return {
        "machine": next((e["machine"] for e in ours if e.get("machine")), None) or machine_of(document),
        "hostname": info.get("node"), "cpu_model": (info.get("cpu") or {}).get("brand_raw") or info.get("processor"),
        "cpu_count": (info.get("cpu") or {}).get("count"),
        "os": f"{info.get('system', '')}-{info.get('release', '')}".strip("-") or None,
        "python": info.get("python_version"), "frameworks": frameworks,
        "threads": threads.pop() if len(threads) == 1 else None,
        "git_commit": (commit.get("id", "") + ("+dirty" if commit.get("dirty") else "")) or None,
        "source": f"pytest-benchmark {document.get('version', '')}".strip(), "benchmark_datetime": document["datetime"],
    }
