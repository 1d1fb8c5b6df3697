"""`rnnbench tune`: each backend's fastest honest configuration per case, found by successive halving.

For every throughput case of a matrix like ``run``'s, the candidates are the
backend's implementations that run on the device (each passed the
conformance check) crossed with the knobs every backend applies through
its framework's working mechanism: flushing denormals, and the thread
count (all usable cores, or one). Successive halving (Jamieson and
Talwalkar; the search of Hyperband's inner loop) screens all candidates with
a short protocol in fresh worker processes, keeps the fastest third, looks
again more closely, and ends with one. Unless the winner is the default's
own configuration, the default and the winner are then measured side by
side, alternating in ABBA blocks, five fresh processes a side with the
profile's full protocol each, and every record is written to a run folder
the reports render ("torch" beside "torch[tuned: loop]") with the speedup
and its significance over the processes' medians (the project's own test,
``report.compare``).
``tuned.json`` in that folder holds the winners; ``rnnbench run --tuned
RUN_DIR`` reuses them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from rnnbench.backend import Backend, Implementation
from rnnbench.case import Case
from rnnbench.errors import UsageError
from rnnbench.manager import rundir
from rnnbench.manager.options import RunOptions, case_timeout_s
from rnnbench.manager.precheck import CheckResult, check_pairs, read_check_results
from rnnbench.manager.precheck import key as precheck_key
from rnnbench.manager.process import WorkerOutcome, build_record, now_iso, run_worker, scratch_dir
from rnnbench.manager.runner import add_peak_fraction, checked_target, measured_shapes, plan
from rnnbench.manager.tuned_settings import TUNED_FILE, Settings
from rnnbench.plugins.registry import Registry
from rnnbench.printable import printable
from rnnbench.report.significance import process_test
from rnnbench.results.store import RecordWriter, read_environment, read_json_file, write_json_file

ETA = 3  # each rung keeps the fastest 1/ETA of its candidates
RUNGS = ((1, 3), (2, 8))  # (warm-up calls, timed samples) of each screening rung: cheap, then closer
FINAL_STEPS = 10  # timed calls of each side-by-side process at least
# Processes a side in the side-by-side measurement. The process is the unit of the test: calls within one
# process share its memory layout and core placement, and consecutive processes on a shared VM differ by
# more than the knobs do (the same settings came out 1.25x "faster", significant, when the calls of two
# processes a side were pooled as if independent). Five a side, as the quick profile's rounds.
FINAL_PROCESSES = 5
DEFAULT_WON = "the default's own settings won"  # the default was timed beside other candidates, and was fastest
ONLY_CANDIDATE = "the default is the only candidate"  # nothing to search: no other implementation or knob here
NOT_TUNED = "not tuned"  # no outcome: no candidate finished (or no side-by-side process did); ``reason`` says why
BUDGET_SPENT = "the budget was spent before this case"


@dataclass
class Tuned:
    """What the search found for one case, and how the winner compared with the default."""

    case: Case  # the default configuration's case
    best: Settings
    rungs: list[list[dict[str, Any]]]  # per rung: each candidate's median step (or why it dropped)
    speedup: float | None = None  # default step time over tuned step time
    measured: str = "training"  # what the step is: "training", or "inference" for a backend that does not train
    low: float | None = None  # 95% interval of the speedup
    high: float | None = None
    p_value: float | None = None
    outcome: str = "not measured"  # faster, slower, not significant, too few samples, ...
    reason: str | None = None  # why NOT_TUNED

    def to_dict(self) -> dict[str, Any]:
        c = self.case
        return {"backend": c.backend, "task": c.task, "cell": c.cell, "device": c.device, "dtype": c.dtype,
                "profile": c.profile, "batch_size": c.batch_size, "seq_len": c.seq_len,
                "hidden_size": c.hidden_size, "num_layers": c.num_layers, "best": self.best.to_dict(),
                "best_label": self.best.label(), "speedup": self.speedup, "speedup_ci": [self.low, self.high],
                "p_value": self.p_value, "outcome": self.outcome, "reason": self.reason, "measured": self.measured,
                "rungs": self.rungs}


def tune(options: RunOptions, results_dir: Path = Path("results"), *, registry: Registry | None = None,
         console: Console | None = None, budget_s: float = 1200.0,
         clock: Callable[[], float] = time.monotonic) -> Path:
    """Search each throughput case of ``options`` within ``budget_s``; the run folder of default and tuned records."""
    registry, console = registry or Registry(), console or Console(stderr=True)
    if not budget_s > 0 or not math.isfinite(budget_s):
        raise UsageError(f"budget_s={budget_s!r} is not valid. Accepted: a finite number of seconds > 0")
    options = dataclasses.replace(options, modes=("throughput",), implementations=("default",))
    cases, _ = plan(options, registry)
    timeout_s = case_timeout_s(options, registry, cases)
    run_dir, run_id = rundir.create(results_dir, options, rundir.new_run_id(), kind=rundir.TUNE_KIND)
    began, found = clock(), list[Tuned]()
    write_json_file(run_dir / TUNED_FILE, _tuned_file(found, cases))
    with rundir.lock(run_dir):
        if note := rundir.ensure_environment(run_dir, options.threads, registry):
            console.print(printable(note, one_line=False), markup=False)
        passed = _checked(run_dir, registry, cases, options, timeout_s, console)
        checks = read_check_results(run_dir)  # none with --no-check

        def conformance(case: Case) -> dict[str, Any] | None:  # the check of the implementation it runs
            checked = checks.get(precheck_key(*checked_target(case, registry)))
            return None if checked is None else checked.to_dict()
        writer, environment = RecordWriter(run_dir), read_environment(run_dir)
        machine, peak = str(environment.get("machine", "")), environment.get("matmul_peak_gflops") or {}
        with scratch_dir() as scratch:
            for case in cases:
                if clock() - began > budget_s:
                    console.print(f"tune: the {budget_s:g} s budget is spent; {len(cases) - len(found)} cases "
                                  "left untuned", markup=False)
                    break
                measure = _measurer(Path(scratch), timeout_s)
                tuned = _search(case, candidates(registry, case, passed), measure)
                if tuned.outcome == NOT_TUNED:
                    pass
                elif checked_target(tuned.best.apply(case), registry) == checked_target(case, registry) and (
                        tuned.best.flush_denormals, tuned.best.threads) == (case.flush_denormals, case.threads):
                    # the same configuration: nothing to compare; "won" only where others were timed beside it
                    tuned.speedup, tuned.outcome = 1.0, DEFAULT_WON if tuned.rungs else ONLY_CANDIDATE
                else:
                    _side_by_side(tuned, measure, writer, (run_id, machine), timeout_s, peak, conformance)
                found.append(tuned)
                write_json_file(run_dir / TUNED_FILE, _tuned_file(found, cases))
                console.print(printable(_line(tuned)), markup=False)
    return run_dir


def _tuned_file(found: list[Tuned], cases: list[Case]) -> dict[str, Any]:
    """tuned.json: every case searched so far, and those the budget left unsearched."""
    left = cases[len(found):]
    return {"cases": [t.to_dict() for t in found],
            "untuned": [{"backend": c.backend, "task": c.task, "cell": c.cell, "device": c.device,
                         "reason": BUDGET_SPENT} for c in left]}


def tuned_summary(run_dir: Path) -> tuple[int, int, str | None]:
    """(cases with an outcome, cases searched or left, the first reason a case was not tuned) of a tune run."""
    saved = read_json_file(run_dir / TUNED_FILE)
    cases, untuned = saved.get("cases") or [], saved.get("untuned") or []
    decided = [c for c in cases if c.get("outcome") != NOT_TUNED]
    reasons = [c.get("reason") for c in cases if c.get("outcome") == NOT_TUNED] + [u.get("reason") for u in untuned]
    return len(decided), len(cases) + len(untuned), next((r for r in reasons if r), None)


def tunable(backend: Backend, device: str) -> list[Implementation]:
    """The implementations that run on ``device`` and are timed on the step the default is: a backend that
    trains is tuned on its training step, so its export paths (``Implementation.trains`` False) are not
    candidates; a backend that does not train is tuned on inference, over all of them."""
    return [i for i in backend.implementations() if i.runs_on(device) and (i.trains or not backend.trains)]


def candidates(registry: Registry, case: Case, passed: set[str]) -> list[Settings]:
    """Every implementation on the device that passed the check, x denormals kept/flushed where the backend
    has that switch there (``Backend.flushes_denormals``), x all cores or one."""
    backend = registry.backend(case.backend)
    names = [i.name for i in tunable(backend, case.device)
             if precheck_key(case.backend, case.device, i.name) in passed]
    flushes = (False, True) if backend.flushes_denormals(case.device) else (case.flush_denormals,)
    threads = sorted({case.threads, 1}, reverse=True)
    return [Settings(name, flush, count) for name in names for flush in flushes for count in threads]


def _checked(run_dir: Path, registry: Registry, cases: list[Case], options: RunOptions, timeout_s: float,
             console: Console) -> set[str]:
    """The (backend, device, implementation) keys that pass conformance; every one when the check is off."""
    targets = list(dict.fromkeys((c.backend, c.device, i.name) for c in cases
                                 for i in tunable(registry.backend(c.backend), c.device)))
    if not options.check:
        return {precheck_key(*t) for t in targets}

    def announce(pair: str, result: CheckResult) -> None:
        console.print(f"conformance {pair} {result.dtype}: {result.label}", markup=False)

    shapes = measured_shapes(cases, registry)
    checks = check_pairs(run_dir, dict.fromkeys(targets, shapes), options.dtype, options.threads, timeout_s,
                         options.memory_limit_mb, announce)
    return {k for k, v in checks.items() if v.ok}


Measure = Callable[[Case], WorkerOutcome]


def _measurer(scratch: Path, timeout_s: float) -> Measure:
    return lambda case: run_worker(case, timeout_s, scratch)


def tuned_block(throughput: dict[str, Any] | None) -> dict[str, Any]:
    """The call kind a tune speeds up: the training step, or inference for a backend that does not train."""
    throughput = throughput or {}
    return throughput.get("train") or throughput.get("infer") or {}


def _step_median(outcome: WorkerOutcome) -> float | None:
    document = outcome.document or {}
    if document.get("status") != "ok":
        return None
    return (tuned_block(document.get("throughput")).get("summary") or {}).get("median")


def _search(case: Case, alive: list[Settings], measure: Measure) -> Tuned:
    """Successive halving over ``alive``: each rung times every survivor, the fastest 1/ETA go on."""
    default = Settings(None, case.flush_denormals, case.threads)
    if not alive:
        return Tuned(case=case, best=default, rungs=[], outcome=NOT_TUNED,
                     reason="no candidate passed the conformance check")
    rungs: list[list[dict[str, Any]]] = []
    measured = "training"
    for warmup, steps in RUNGS:
        if len(alive) <= 1:
            break
        timed = []
        rung: list[dict[str, Any]] = []
        for settings in alive:
            outcome = measure(dataclasses.replace(settings.apply(case), warmup=warmup, steps=steps))
            median = _step_median(outcome)
            if median is not None and not (outcome.document or {})["throughput"].get("train"):
                measured = "inference"
            error = None if median is not None else (outcome.document or {}).get("error") or "no result"
            rung.append({"settings": settings.to_dict(), "step_s": median, "error": error})
            if median is not None:
                timed.append((median, settings))
        rungs.append(rung)
        if not timed:  # no winner was measured: not an outcome for the default either
            return Tuned(case=case, best=default, rungs=rungs, outcome=NOT_TUNED,
                         reason=f"no candidate finished ({rung[0]['error']})")
        timed.sort(key=lambda pair: pair[0])
        alive = [settings for _, settings in timed[:max(1, math.ceil(len(timed) / ETA))]]
    return Tuned(case=case, best=alive[0], rungs=rungs, measured=measured)


def alternating(per_side: int) -> list[tuple[str, int]]:
    """(role, repeat) in ABBA blocks, "default" first, until each side has ``per_side`` processes."""
    order: list[tuple[str, int]] = []
    counts = {"default": 0, "tuned": 0}
    for role in itertools.cycle(("default", "tuned", "tuned", "default")):
        if min(counts.values()) >= per_side:
            return order
        if counts[role] < per_side:
            order.append((role, counts[role]))
            counts[role] += 1
    raise AssertionError("unreachable")


def _side_by_side(tuned: Tuned, measure: Measure, writer: RecordWriter, where: tuple[str, str], timeout_s: float,
                  peak: dict[str, float], conformance: Callable[[Case], dict[str, Any] | None]) -> None:
    """Default and tuned in ABBA blocks, FINAL_PROCESSES fresh processes a side with the full protocol each;
    compared on each process's median, paired by block (``rnnbench.report.significance``), so the test's
    unit is the process.

    The ABBA order cancels a drift in time; the processes a side carry the variation between processes.
    """
    medians: dict[str, dict[int, float]] = {"default": {}, "tuned": {}}
    errors: list[str] = []
    base = dataclasses.replace(tuned.case, steps=max(tuned.case.steps, FINAL_STEPS))
    for role, repeat in alternating(FINAL_PROCESSES):
        case = dataclasses.replace(base if role == "default" else tuned.best.apply(base), repeat=repeat)
        started = now_iso()
        outcome = measure(case)
        record = build_record(case, outcome, where[0], where[1], timeout_s, started)
        record["tuning"] = {"role": role, "settings": tuned.best.to_dict() if role == "tuned" else None,
                            "label": tuned.best.label() if role == "tuned" else "default"}
        add_peak_fraction(record, peak)
        if (checked := conformance(case)) is not None:
            record["conformance"] = checked
        writer.append(record)
        calls = tuned_block(record.get("throughput")).get("samples_s") or []
        if calls:
            medians[role][repeat] = float(np.median(calls))
        else:
            errors.append(f"{role}: {record.get('error') or record.get('status')}")
    if not (medians["default"] and medians["tuned"]):
        tuned.outcome, tuned.reason = NOT_TUNED, f"the side by side measured no process of a side ({errors[0]})"
    else:
        result = process_test(medians["default"], medians["tuned"], paired=True)
        tuned.speedup = 1 / result.ratio
        tuned.low = None if result.high is None else 1 / result.high
        tuned.high = None if result.low is None else 1 / result.low
        tuned.p_value, tuned.outcome = result.p_value, result.outcome


def _line(tuned: Tuned) -> str:
    c = tuned.case
    where = f"{c.backend} {c.task} {c.cell} {c.device}"
    if tuned.outcome == NOT_TUNED:
        return f"tune {where}: not tuned: {tuned.reason}"
    if tuned.outcome in (DEFAULT_WON, ONLY_CANDIDATE):
        return f"tune {where}: {tuned.outcome} ({tuned.best.label()}); nothing to compare"
    if tuned.speedup is None:
        return f"tune {where}: best {tuned.best.label()}; not compared ({tuned.outcome})"
    interval = "" if tuned.low is None else f" [{tuned.low:.2f}, {tuned.high:.2f}]"
    sizes = " -> ".join(str(len(rung)) for rung in tuned.rungs) or "1"
    return (f"tune {where}: {tuned.best.label()} is {tuned.speedup:.2f}x the default's {tuned.measured} speed"
            f"{interval} ({tuned.outcome}; candidates {sizes} -> 1)")
