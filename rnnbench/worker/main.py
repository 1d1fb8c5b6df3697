"""`python -m rnnbench.worker CASE_JSON OUT_JSON [CASE_JSON OUT_JSON ...]`: run cases here, one document each.

CASE_JSON holds ``Case.to_dict()``. The worker limits its address space
(``memory_limit_mb``), pins itself to the case's CPUs, imports only the
case's backend, configures it, prepares the case (task, spec, weights,
model, pre-fetched batches) and runs the case's mode. Whatever happens
short of being killed, it writes exactly one document to OUT_JSON
(atomically: a temporary file in the same folder, then ``os.replace``) and
exits 0; the manager handles a worker that leaves no document.

The document (every key always present, ``None`` where not reached):

    status      "ok" | "nan" | "oom" | "failed"
    error       one line, "Type: message" for an exception; why, for "nan"
    traceback   the exception's traceback, or None
    runtime     {"kernel_path": str, "settings": {pin_process + configure + the model's settings}}
    implementation  {"name": the Backend.implementations() name that ran, "default": whether it is the
                    backend's default for this device and network}
    versions    backend.versions()
    spec, optimizer     the ModelSpec and OptimizerSpec run, as dicts
    batch       {"batch_size": B, "seq_len": T}
    items       {"samples_per_step": B, "tokens_per_step": B * T}
    flops       {"train_step": ..., "forward": ...} per call (rnnbench.flops)
    throughput, memory, accuracy    the mode's section (rnnbench.worker.modes); the others None
    subnormal   throughput: {"params": share, "grads": share} of subnormal values at the end of the process
    worker_seconds      wall time of the worker, from reading the case to the document

Several pairs are cases run one after another in this process
(``run_cases``): one process serves several cases of its backend, so the
interpreter, the framework's import and its thread pools are paid once
(the manager's schedule decides which cases share a process, and in
what order). A case that differs from the one before only in mode is
measured on its setup (memory, then throughput of the same configuration; never accuracy);
any other case prepares its own. Each document is written the moment its
case ends; ``process`` in it says which process ran it (``id``, the same
for every case of the process), at which ``position``, and which cases ran
before it.

``run_case`` does the same in-process, without the process-level steps
(memory limit, CPU pinning, exit).
"""

from __future__ import annotations

import dataclasses
import faulthandler
import gc
import itertools
import json
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.backend import ParitySettings
from rnnbench.case import LATENCY_BATCH, Case, case_spec
from rnnbench.document import KEYS, is_oom, write_document
from rnnbench.errors import UsageError
from rnnbench.flops import forward_flops, train_step_flops
from rnnbench.host import limit_memory
from rnnbench.kit import check_batch
from rnnbench.params import init_params
from rnnbench.plugins.registry import Registry
from rnnbench.spec import ModelSpec
from rnnbench.task import SYNTHETIC_STREAM, Batch, Task, synthetic_batch
from rnnbench.worker.modes import MODES, ModeResult, Setup
from rnnbench.worker.parity import pin_process
from rnnbench.worker.training import training_batches

Document = dict[str, Any]

PREFETCH_BATCHES = 8  # batches fetched before timing and cycled through the calls
MAX_ERROR_CHARS = 2000
# ---- in-process ---------------------------------------------------------------------------


def run_case(case: Case, registry: Registry | None = None, process_settings: dict[str, str] | None = None,
             started: float | None = None) -> Document:
    """Prepare ``case``, run its mode and return the document; never raises for the case's own failures.

    ``process_settings`` are what the process-level steps applied (pinning,
    memory limit), recorded under runtime.settings.
    """
    return run_cases([case], registry, process_settings, started)[0]


def run_cases(cases: list[Case], registry: Registry | None = None, process_settings: dict[str, str] | None = None,
              started: float | None = None, written: Callable[[int, Document], None] | None = None) -> list[Document]:
    """Cases in order in this process; a case that differs from the one before only in mode uses its setup.

    ``written`` gets each document as its case ends. A case that fails
    leaves no setup behind: the next one prepares its own.
    """
    registry, docs, setup = registry or Registry(), [], None
    process = uuid.uuid4().hex[:12]  # one id for every case this process serves
    for index, case in enumerate(cases):
        begun = started if index == 0 and started is not None else time.perf_counter()
        doc = empty_document()
        try:
            if setup is not None and shares_setup(setup.case, case):
                setup = carry_over(setup, case, doc, docs[-1])
            else:
                setup = None  # the previous case's model and batches go before the next case builds its own
                gc.collect()
                setup = prepare(case, registry, process_settings or {}, doc)
            record_mode(doc, MODES[case.mode](setup))
            record_runtime(doc, setup)
        except (Exception, SystemExit) as exc:  # every failure of the case (plugin code's sys.exit too) is its status
            record_failure(doc, exc)
            setup = None
        doc["process"] = {"id": process, "position": index, "after": [c.case_id for c in cases[:index]]}
        docs.append(finish(doc, begun))
        if written is not None:
            written(index, docs[-1])
    return docs


def shares_setup(before: Case, case: Case) -> bool:
    """Whether ``case`` can be measured on the setup of ``before``: only the mode differs, and neither is
    accuracy (it trains the model and spends its batch stream) nor latency (its batch is another)."""
    apart = {"accuracy", "latency"}
    return dataclasses.replace(before, mode=case.mode) == case and not apart & {before.mode, case.mode}


def carry_over(setup: Setup, case: Case, doc: Document, before: Document) -> Setup:
    """The previous case's setup for ``case`` (its mode is all that differs), the document filled as prepare does."""
    if not shares_setup(setup.case, case):
        raise UsageError(f"case {case.case_id} cannot share a process with {setup.case.case_id}. Accepted: cases "
                         "that differ only in mode, neither of them accuracy (it trains the model)")
    doc.update(versions=before.get("versions"), runtime=before.get("runtime"),
               implementation=before.get("implementation"))
    carried = dataclasses.replace(setup, case=case)
    describe(doc, carried)
    return carried


def empty_document() -> Document:
    return dict.fromkeys(KEYS) | {"status": "ok"}


def prepare(case: Case, registry: Registry, process_settings: dict[str, str], doc: Document) -> Setup:
    """Everything before the measurement, recorded in ``doc`` as it becomes known."""
    backend = registry.available_backend(case.backend)  # imports this backend's module only
    doc["versions"] = registry.record_versions(case.backend)  # the plugin's distribution, then its frameworks
    applied = backend.configure(ParitySettings(case.threads, case.flush_denormals))
    doc["runtime"] = {"kernel_path": None, "settings": {**process_settings, **applied}}
    task = bind_task(registry.task(case.task), case)
    spec, optimizer = case_spec(task, case), task.optimizer(case.cell)  # type: ignore[arg-type]
    backend.use_implementation(case.implementation)  # an unknown name is a UsageError here
    doc["implementation"] = backend.implementation_record(case.device, spec)
    setup = Setup(case, backend, task, spec, optimizer, case.batch_size or default_batch_size(task, case),
                  case.seq_len or task.seq_len)
    describe(doc, setup)
    begun = time.perf_counter()
    if case.mode == "accuracy":  # the task's whole seeded stream, loaded now
        setup.stream = training_batches(task, spec, case.seed)
    else:
        setup.batches = prefetch(setup)
        for x, y in setup.batches:  # the data contract, once per case, the same for every backend
            check_batch(spec, x, y, setup.batch_size, setup.seq_len)
    setup.model = backend.build(spec, init_params(spec, case.seed), optimizer, case.device)
    setup.seconds = time.perf_counter() - begun
    record_runtime(doc, setup)
    return setup


def record_runtime(doc: Document, setup: Setup) -> None:
    """The model's kernel path and settings over what the process applied: read once it is built, and again
    after its mode, where what a model knows only after its first calls (an export path's artifacts and their
    seconds, the kernel a package calls) is then in the record."""
    info = setup.require_model().runtime_info()
    doc["runtime"] = {"kernel_path": info.kernel_path, "settings": {**doc["runtime"]["settings"], **info.settings}}


def default_batch_size(task: Task, case: Case) -> int:
    """B when the case sets none: one request for latency, the task recipe's batch for the other modes."""
    return LATENCY_BATCH if case.mode == "latency" else task.recipe().batch_size


def bind_task(task: Task, case: Case) -> Task:
    """The task bound to the case's profile, data mode and options; UsageError if it cannot run here."""
    clash = sorted({"profile", "synthetic"} & set(case.task_options))
    if clash:
        raise UsageError(f"task option {clash[0]!r} is a case field. Accepted: set it on the case, not in task_options")
    status = task.available()
    if not status.ok:
        hint = f"; install it with: {status.install_hint}" if status.install_hint else ""
        raise UsageError(f"Task {task.name!r} is not available: {status.reason}{hint}")
    return task.with_options(profile=case.profile, synthetic=case.synthetic, **case.task_options)


def describe(doc: Document, setup: Setup) -> None:
    """The parts of the document that follow from the case, the spec and the batch shape alone."""
    b, t, spec, case = setup.batch_size, setup.seq_len, setup.spec, setup.case
    doc.update(spec=dataclasses.asdict(spec), optimizer=dataclasses.asdict(setup.optimizer),
               batch={"batch_size": b, "seq_len": t}, items={"samples_per_step": b, "tokens_per_step": b * t},
               flops={"train_step": train_step_flops(spec, b, t), "forward": forward_flops(spec, b, t)},
               data=fed_data(case), headline=headline(setup.task, case.cell))


def fed_data(case: Case) -> str:
    """What the modes feed: the task's data, or synthetic batches (asked for, or a batch or length sweep)."""
    swept = case.mode != "accuracy" and (case.batch_size is not None or case.seq_len is not None)
    return "synthetic" if case.synthetic or swept else "real"


def headline(task: Task, cell: str) -> dict[str, str | None]:
    """The task's headline metric and which way it improves (its target's goal, when the target is on it)."""
    target = task.quality_target(cell)  # type: ignore[arg-type]
    goal = target.goal if target is not None and target.metric == task.headline else None
    return {"metric": task.headline, "goal": goal}


def prefetch(setup: Setup) -> list[Batch]:
    """The batches the mode cycles through, fetched now so data loading is never measured.

    The task's seeded batches (for latency, their sequences as requests of its
    batch, one by default); synthetic ones of the overridden shape when the
    case sets batch_size or seq_len (a sweep needs no re-batching of the data).
    """
    case, spec = setup.case, setup.spec
    if case.batch_size is None and case.seq_len is None:
        source = setup.task.train_batches(case.seed)
        if setup.batch_size != setup.task.recipe().batch_size:  # latency: the task's sequences, one request each
            source = (tuple(part[i:i + setup.batch_size] for part in batch) for batch in source
                      for i in range(0, len(batch[0]) - setup.batch_size + 1, setup.batch_size))
    else:
        rng = np.random.default_rng([SYNTHETIC_STREAM, case.seed])
        source = (synthetic_batch(spec, setup.batch_size, setup.seq_len, rng) for _ in itertools.count())
    return [(as_dtype(x, spec), as_dtype(y, spec)) for x, y in itertools.islice(source, PREFETCH_BATCHES)]


def as_dtype(array: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Float data in the spec's dtype (a float64 case on float32 data), ids unchanged; contiguous."""
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=spec.dtype)
    return np.ascontiguousarray(array)


def record_mode(doc: Document, result: ModeResult) -> None:
    doc.update(result.sections, status=result.status, error=result.error)


def record_failure(doc: Document, exc: BaseException) -> None:
    """Status "oom" or "failed", the one-line error and the traceback; measurements dropped."""
    doc.update(throughput=None, memory=None, accuracy=None, latency=None, status="oom" if is_oom(exc) else "failed",
               error=one_line(exc), traceback="".join(traceback.format_exception(exc)))


def one_line(exc: BaseException) -> str:
    """"Type: message" on one line, whitespace collapsed, cut to MAX_ERROR_CHARS."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


def finish(doc: Document, started: float) -> Document:
    doc["worker_seconds"] = time.perf_counter() - started
    return jsonable(doc)  # type: ignore[return-value]


def jsonable(value: object) -> object:
    """Plain JSON types: numpy scalars and arrays unwrapped, tuples as lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


# ---- the process --------------------------------------------------------------------------


def run_files(pairs: list[tuple[str, str]], started: float) -> None:
    """Read the cases, apply the process-level settings (the first case's), run them; a document for each."""
    try:
        cases = [Case.from_dict(json.loads(Path(case_path).read_text())) for case_path, _ in pairs]
        applied = limit_memory(cases[0].memory_limit_mb)
        applied |= pin_process(ParitySettings(cases[0].threads, cases[0].flush_denormals))
    except Exception as exc:  # an unreadable case or unusable settings: still one document each
        doc = empty_document()
        record_failure(doc, exc)
        for _, out in pairs:
            write_document(out, finish(dict(doc), started))
        return
    run_cases(cases, process_settings=applied, started=started,
              written=lambda index, doc: write_document(pairs[index][1], doc))


def main(argv: list[str]) -> int:
    if not argv or len(argv) % 2:
        print("usage: python -m rnnbench.worker CASE_JSON OUT_JSON [CASE_JSON OUT_JSON ...]", file=sys.stderr)
        return 2
    started = time.perf_counter()
    # A crash in native code (abort, segfault) then leaves a Python stack in the stderr tail.
    faulthandler.enable()
    run_files(list(zip(argv[::2], argv[1::2], strict=True)), started)
    return 0


def exit_now(code: int) -> None:
    """Leave without running the frameworks' exit handlers, after flushing what was printed.

    The document is written; some frameworks' thread-pool teardown at
    interpreter exit can hang or crash, which would turn a finished case into
    a timeout or a crash in the manager's eyes.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

