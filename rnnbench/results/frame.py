"""``load_results``: result records as a pandas DataFrame, the one input of every report.

One row per record (per case and round). Columns:

==============================  ===========================================================
column                          meaning
==============================  ===========================================================
run_id, machine                 the run folder's name; the machine it ran on ("unknown machine": none named)
case_id                         the case's key (backend/task/cell/device/mode/config), its round included
case_key                        the same without the round: rounds of a case and the same case in two runs
workload                        fingerprint of the work measured (task, cell, spec, optimizer, batch, data)
data                            what was fed: "real" (the task's data) or "synthetic" (seeded batches)
backend, task, cell, device     the case
mode                            throughput, memory, accuracy or latency
profile, synthetic, dtype       the case's profile, data and dtype
batch_size, seq_len             the batch shape that ran (B, T)
hidden_size, num_layers         the network that ran
threads, flush_denormals        parity settings
repeat                          the round of the matrix
status, error                   ok, failed, crashed, timeout, oom, nan, skipped; one-line reason
duration_s                      wall time of the worker process
shared_node                     True: other cases may have run beside it on its machine (Ray, --ray-share-nodes)
implementation                  the Backend.implementations() name that ran (None: records made before them)
implementation_default          whether that is the backend's default for the device and network
kernel_path                     the kernel path the backend reported
conformance_ok                  the run's conformance check of this backend and device: True, False,
                                or None when it did not finish or was not run (``--no-check``)
{train,infer}_step_s            median seconds per call
{train,infer}_process_s         the process's value for every test and interval over processes: its median
                                seconds per call, NaN when its threads waited for a CPU far longer than
                                its siblings' (rnnbench.results.guards: it timed a neighbour)
{train,infer}_cpu_wait_share    that wait as a share of the pass's wall time (rnnbench.worker.contention)
{train,infer}_step_ci_low_s     95% bootstrap interval of that median (low, high)
{train,infer}_step_ci_high_s
{train,infer}_step_iqr_s        interquartile range of the per-call samples
{train,infer}_first_step_s      the first call alone (compile, warm-up)
{train,infer}_samples_per_s     sequences per second (total items / total time)
{train,infer}_samples_per_s_at_median  the batch over the median seconds per call
{train,infer}_tokens_per_s      time steps per second
{train,infer}_gflops            achieved GFLOP/s (matmul FLOPs of the cell and head)
{train,infer}_peak_fraction     that over the run's measured float32 matmul peak
{train,infer}_unstable          IQR over median above 10%
{train,infer}_samples_s         every sample, seconds per call (a list)
{train,infer}_calls_per_sample  calls timed together in each sample (the protocol's calibration)
{train,infer}_protocol          how samples were taken: "blocks-v2" (calibrated on the warm-up), "blocks-v1", "calls-v0"
                                (one call per sample, before blocks), "pytest-benchmark"
{whole,stream}_p50_s            latency mode: the median seconds of one call, over the process's calls:
                                a whole sequence (``predict``) or one streamed step (``step``, the state carried)
{whole,stream}_p90_s, _p99_s    the 90th and 99th percentiles (numpy's linear interpolation); the tail a
                                service is held to
{whole,stream}_max_s            the slowest timed call
{whole,stream}_first_call_s     the first call alone (load, compile)
{whole,stream}_calls            timed calls behind the quantiles (a p99 of fewer than 100 lies between the two
                                slowest)
{whole,stream}_cpu_wait_share   the share of the measurement's wall time the process's threads waited for a CPU
{whole,stream}_samples_s        every call, seconds (a list)
stream_missing                  why a latency record has no streaming figures (the model has no step), else None
memory_baseline_bytes           resident memory after setup
memory_peak_bytes               peak resident memory above that baseline
device_peak_bytes               the framework's device-memory peak (GPU), else NaN
metric_<name>                   the task's final metrics (accuracy mode)
time_to_target_s                training seconds to the task's target, NaN if not reached
train_steps                     optimiser steps the accuracy pass trained
step_losses                     the training loss of every step (smoke and quick: the equal-step curve), a list
equivalence_max_rel_gap         the largest relative gap between that curve and the NumPy reference's at the
                                same steps (same workload and seed); NaN for the reference and without curves
equivalence_ok                  that gap within ``results.equivalence.EQUIVALENCE_TOLERANCE``: True, False or None
curve                           the learning curve (a list of points)
process                         the worker process that measured it (an id shared by the cases of one process)
subnormal_grads                 share of subnormal values in the gradients at the end of a throughput process
implausible                     what makes the row implausible, one line each (rnnbench.results.guards): an
                                outlier process, a trend within the process, a cheaper cell that cost more,
                                subnormal values; an empty list when nothing is
record                          the whole record (a dict), for anything not flattened
==============================  ===========================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from rnnbench.results.equivalence import add_equivalence
from rnnbench.results.guards import add_flags
from rnnbench.results.schema import LOST
from rnnbench.results.store import read_records, run_dirs

CASE_COLUMNS = ("profile", "synthetic", "dtype", "threads", "flush_denormals", "repeat")
UNKNOWN_MACHINE = "unknown machine"  # the machine of a record that names none


def load_results(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                 skipped: list[str] | None = None) -> pd.DataFrame:
    """Every record under ``paths`` (run folders, or folders of run folders), one row each.

    A pytest-benchmark JSON file (named, or found like a run folder) counts as a run of
    throughput records of task "micro" (rnnbench.results.pytest_benchmark). A line that is
    not a record is an error, or, with a ``skipped`` list, noted there and left out.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    rows = [_row(record) for run_dir in run_dirs(paths) for record in read_records(run_dir, skipped)]
    return add_flags(add_equivalence(_without_superseded(pd.DataFrame(rows))))


def _without_superseded(frame: pd.DataFrame) -> pd.DataFrame:
    """Lost records (the machine vanished) of cases that a resume then ran again are history, not results."""
    if frame.empty:
        return frame
    lost = frame.status == LOST
    rerun = frame.loc[~lost, ["run_id", "case_id"]].apply(tuple, axis=1)
    superseded = lost & frame[["run_id", "case_id"]].apply(tuple, axis=1).isin(set(rerun))
    return frame[~superseded].reset_index(drop=True)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    config = record.get("config", {})
    spec = record.get("spec") or {}
    batch = record.get("batch") or {}
    row: dict[str, Any] = {key: record.get(key) for key in (
        "run_id", "machine", "case_id", "case_key", "workload", "data", "backend", "task", "cell", "device",
        "mode", "status", "error", "duration_s", "shared_node")}
    row["machine"] = record.get("machine") or UNKNOWN_MACHINE  # records before machines were named
    row.update({key: config.get(key) for key in CASE_COLUMNS})
    implementation = record.get("implementation") or {}
    row.update(implementation=implementation.get("name"), implementation_default=implementation.get("default", True))
    row.update(batch_size=batch.get("batch_size"), seq_len=batch.get("seq_len"),
               hidden_size=spec.get("hidden_size"), num_layers=spec.get("num_layers"),
               kernel_path=(record.get("runtime") or {}).get("kernel_path"),
               conformance_ok=(record.get("conformance") or {}).get("ok"))
    for kind in ("train", "infer"):
        row.update(_throughput_columns(kind, ((record.get("throughput") or {}).get(kind)) or {}))
    row.update(_latency_columns(record.get("latency") or {}))
    row.update(_memory_columns(record.get("memory") or {}))
    row.update(_accuracy_columns(record.get("accuracy") or {}))
    row["process"] = (record.get("process") or {}).get("id")
    row["subnormal_grads"] = (record.get("subnormal") or {}).get("grads")
    row["record"] = record
    return row


def _throughput_columns(kind: str, block: dict[str, Any]) -> dict[str, Any]:
    summary = block.get("summary") or {}
    return {
        f"{kind}_step_s": summary.get("median"), f"{kind}_process_s": summary.get("median"),  # guards may drop it
        f"{kind}_cpu_wait_share": block.get("cpu_wait_share"), f"{kind}_step_ci_low_s": summary.get("ci_low"),
        f"{kind}_step_ci_high_s": summary.get("ci_high"), f"{kind}_step_iqr_s": summary.get("iqr"),
        f"{kind}_first_step_s": block.get("first_step_s"), f"{kind}_samples_per_s": block.get("samples_per_s"),
        f"{kind}_tokens_per_s": block.get("tokens_per_s"), f"{kind}_gflops": block.get("gflops"),
        f"{kind}_peak_fraction": block.get("peak_fraction"), f"{kind}_unstable": block.get("unstable"),
        f"{kind}_samples_s": block.get("samples_s"),
        f"{kind}_samples_per_s_at_median": _at_median(block),
        f"{kind}_calls_per_sample": block.get("calls_per_sample", 1 if block else None),
        f"{kind}_protocol": block.get("protocol", "calls-v0" if block else None),
    }


def _at_median(block: dict[str, Any]) -> float | None:
    """The batch over the median seconds per call (records before blocks-v1 did not store it)."""
    if "samples_per_s_at_median" in block:
        return block["samples_per_s_at_median"]
    median, rate, total = (block.get("summary") or {}).get("median"), block.get("samples_per_s"), block.get("samples_s")
    if not median or not rate or not total:
        return None
    return rate * sum(total) / len(total) / median  # rate = batch / mean, so batch = rate * mean


LATENCY_FIGURES = ("p50_s", "p90_s", "p99_s", "max_s", "first_call_s", "calls", "cpu_wait_share", "samples_s")


def _latency_columns(section: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {"stream_missing": section.get("streaming_missing")}
    for prefix, kind in (("whole", "whole"), ("stream", "streaming")):
        block = section.get(kind) or {}
        columns.update({f"{prefix}_{name}": block.get(name) for name in LATENCY_FIGURES})
    return columns


def _memory_columns(block: dict[str, Any]) -> dict[str, Any]:
    device = block.get("device") or {}
    return {"memory_baseline_bytes": block.get("baseline_rss_bytes"),
            "memory_peak_bytes": block.get("peak_above_baseline_bytes"),
            "device_peak_bytes": device.get("peak_bytes")}


def _accuracy_columns(block: dict[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {f"metric_{k}": v for k, v in (block.get("final_metrics") or {}).items()}
    target = block.get("time_to_target") or {}
    columns["time_to_target_s"] = target.get("train_seconds") if isinstance(target, dict) else None
    columns["train_steps"] = block.get("steps")
    columns["step_losses"] = block.get("step_losses")
    columns["curve"] = block.get("curve")
    return columns
