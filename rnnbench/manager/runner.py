"""`rnnbench run`: the case matrix, run case by case into a results folder.

``run`` is the public API the CLI calls. It resolves the matrix, writes
``run.json`` (the options, so ``resume`` can rebuild the same matrix) and
``environment.json``, then hands the unfinished cases to the run's executor
(``rnnbench.manager.executors``: this machine, or a Ray cluster) and appends each
case's record the moment it comes back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from rnnbench.backend import Availability, Backend
from rnnbench.case import INFERENCE_ONLY, TRAINING_MODES, Case, case_spec
from rnnbench.conformance import Shape, shape_of
from rnnbench.errors import ResultsWriteError, RnnbenchError, UsageError
from rnnbench.manager import rundir
from rnnbench.manager.executors import Executor, Finished, make_executor
from rnnbench.manager.options import RunOptions, case_timeout_s, expand
from rnnbench.manager.precheck import CheckResult, Target, check_pairs, read_check_results
from rnnbench.manager.precheck import key as precheck_key
from rnnbench.manager.probe import devices_in_subprocess
from rnnbench.manager.process import build_record, build_record_of, now_iso, remove_stale_scratch
from rnnbench.manager.progress import Reporter, reporter
from rnnbench.manager.schedule import draw_seed, schedule
from rnnbench.plugins.registry import Registry
from rnnbench.printable import printable
from rnnbench.results.store import (
    RUN_FILE,
    RecordWriter,
    finished_case_ids,
    read_environment,
    write_machine_environment,
)
from rnnbench.spec import GPU_ONLY_PRECISIONS, ModelSpec


class Interrupted(RnnbenchError):
    """Ctrl-C: finished cases are kept; the message says how to resume."""

    exit_code = 130


@dataclass
class RunReport:
    """What a run did: where its results are, what ran, what was skipped."""

    run_dir: Path
    cases: list[Case]
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped_backends: dict[str, Availability] = field(default_factory=dict)
    run_id: str = ""  # from run.json: never the folder name as typed
    skipped_cases: list[tuple[Case, str]] = field(default_factory=list)  # cases a backend cannot run, and why


def plan(options: RunOptions, registry: Registry, probe: Callable[[str], list[str]] = devices_in_subprocess
         ) -> tuple[list[Case], dict[str, Availability]]:
    """The cases of ``options`` and the backends skipped as unavailable (with why); ``probe`` finds GPUs."""
    backends, skipped = registry.select_backends(list(options.backends))
    named = "all" not in options.backends
    backends, skipped = _computing(options.dtype, backends, skipped, named)
    backends, skipped = _implementing(options.implementations, backends, skipped, named)
    if not backends:
        raise UsageError("No backend is available to run. Accepted: an installed backend (see rnnbench plugins)")
    names = [b.name for b in backends]
    if tuple(options.devices) == ("cpu",):
        devices = {name: ["cpu"] for name in names}
    else:
        devices = {name: probe(name) for name in names}
    return expand(options, registry, names, devices), skipped


def split_training_cases(cases: list[Case], registry: Registry) -> tuple[list[Case], list[tuple[Case, str]]]:
    """The cases to run, and the training cases of inference-only backends (``Backend.trains`` False) and of
    export paths (``Implementation.trains`` False), each with the one-line reason a skipped record carries:
    never a failure, the backend or implementation competes elsewhere."""
    run, skipped = [], []
    for case in cases:
        backend = registry.backend(case.backend)
        if case.mode not in TRAINING_MODES or backend.trains_with(case.implementation, case.device):
            run.append(case)
            continue
        who = (f"Backend {case.backend!r}" if not backend.trains else
               f"Implementation {case.implementation!r} of backend {case.backend!r}")
        skipped.append((case, f"{who} {INFERENCE_ONLY}: the {case.mode} mode trains; it is measured by the "
                              "throughput mode's inference half"))
    return run, skipped


def _computing(precision: str, backends: list[Backend], skipped: dict[str, Availability], named: bool
               ) -> tuple[list[Backend], dict[str, Availability]]:
    """The backends that compute ``precision``; with ``all`` the others are skipped with why, named ones refused."""
    lacking = [b for b in backends if precision not in b.dtypes]
    if lacking and named:
        raise UsageError(f"Backend {lacking[0].name!r} does not compute {precision}. Accepted: --dtype "
                         f"{' or '.join(lacking[0].dtypes)} for it, or --backend all (skips the backends without it)")
    for backend in lacking:
        skipped[backend.name] = Availability(False, f"it does not compute {precision} "
                                                    f"(only {', '.join(backend.dtypes)})")
    return [b for b in backends if b not in lacking], skipped


def _implementing(names: tuple[str, ...], backends: list[Backend], skipped: dict[str, Availability], named: bool
                  ) -> tuple[list[Backend], dict[str, Availability]]:
    """The backends that offer one of the implementations named; with ``all`` the others are skipped with why,
    named ones refused. A name no selected backend offers is left to ``expand``, which refuses it."""
    wanted = [n for n in names if n not in ("default", "all")]
    known = {i.name for b in backends for i in b.implementations()}
    if len(wanted) < len(names) or not set(wanted) & known:
        return backends, skipped

    def offered(backend: Backend) -> list[str]:
        return [i.name for i in backend.implementations()]
    lacking = [b for b in backends if not set(wanted) & set(offered(b))]
    asked = " or ".join(repr(n) for n in wanted)
    if lacking and named:
        raise UsageError(f"Backend {lacking[0].name!r} has no implementation {asked}. Accepted for it: "
                         f"--implementation default, all or {', '.join(offered(lacking[0]))}, or --backend all "
                         "(skips the backends without it)")
    for backend in lacking:
        skipped[backend.name] = Availability(False, f"it has no implementation {asked} "
                                                    f"(only {', '.join(offered(backend))})")
    return [b for b in backends if b not in lacking], skipped


def run(options: RunOptions, results_dir: Path = Path("results"), *, registry: Registry | None = None,
        console: Console | None = None, quiet: bool = False, resume: Path | None = None) -> RunReport:
    """Run the matrix of ``options`` (or finish the run in ``resume``) and return what was done.

    Everything that can be refused is refused before the run folder exists: the options
    (``RunOptions``), the matrix (unknown names, devices no backend has), the executor.
    """
    registry = registry or Registry()
    console = console or Console(stderr=True)
    remove_stale_scratch()  # what a manager killed by SIGKILL left behind
    if resume is None:
        run_id = rundir.new_run_id()
    else:
        saved = rundir.read_run_file(resume)
        rundir.require_run_folder(resume, saved)
        options, run_id = load_run_options(resume, saved), rundir.run_id_of(resume, saved)
    if options.order_seed is None:  # drawn now, so run.json keeps it and a resume runs the same order
        options = dataclasses.replace(options, order_seed=draw_seed())
    with make_executor(options.executor, options.ray_address, run_id, options.ray_share_nodes) as executor:
        cases, skipped = plan(options, registry, executor.devices)
        cases, untrained = split_training_cases(cases, registry)
        executor.check(cases)
        if resume is None:
            run_dir, run_id = rundir.create(results_dir, options, run_id)
        else:
            run_dir = resume
        options = dataclasses.replace(options, timeout_s=case_timeout_s(options, registry, cases))
        with rundir.lock(run_dir):
            report = RunReport(run_dir, cases, skipped_backends=skipped, run_id=run_id, skipped_cases=untrained)
            _run_locked(report, options, registry, executor, console, quiet)
    return report


def _run_locked(report: RunReport, options: RunOptions, registry: Registry, executor: Executor, console: Console,
                quiet: bool) -> None:
    """Everything a run writes, while it holds its folder; Ctrl-C or a write error end it with the resume line."""
    resume_hint = f"finish the rest with: rnnbench run --resume {report.run_dir}"
    try:
        writer = RecordWriter(report.run_dir)
        if writer.repaired:
            console.print(writer.repaired, markup=False)
        if note := rundir.ensure_environment(report.run_dir, options.threads, registry):
            console.print(note, markup=False)
        for name, status in report.skipped_backends.items():
            console.print(f"skipped: {printable(status.message(name))}", markup=False)
        for reason in dict.fromkeys(reason for _, reason in report.skipped_cases):
            console.print(f"skipped: {printable(reason)}", markup=False, soft_wrap=True)
        _record_skipped(report, options, registry, writer)
        if options.check:
            _check_conformance(report, options, registry, console, quiet)
        _run_cases(report, options, registry, executor, reporter(console, quiet), writer)
    except KeyboardInterrupt:
        saved = len(finished_case_ids(report.run_dir) & {case.case_id for case in report.cases})
        raise Interrupted(f"interrupted: {saved} of {len(report.cases)} cases are saved in {report.run_dir}; "
                          f"{resume_hint}") from None
    except ResultsWriteError as exc:
        raise ResultsWriteError(f"{exc}; every record before it is intact; free space (or fix the folder), then "
                                f"{resume_hint}") from None


def _check_conformance(report: RunReport, options: RunOptions, registry: Registry, console: Console,
                       quiet: bool) -> None:
    """Check each implementation the matrix runs, per device, once, on this machine, before its first case."""
    def announce(target: str, result: CheckResult) -> None:
        if not quiet:
            console.print(printable(f"conformance {target} {result.dtype}: {result.label}"), markup=False)

    check_pairs(report.run_dir, conformance_targets(report.cases, registry), options.dtype, options.threads,
                _timeout(options), options.memory_limit_mb, announce)


def conformance_targets(cases: list[Case], registry: Registry) -> dict[Target, set[Shape]]:
    """Each (backend, device, implementation) that ``cases`` run, with the check's cases their networks need."""
    targets: dict[Target, set[Shape]] = {}
    for case in cases:
        spec = _spec(case, registry)
        targets.setdefault(checked_target(case, registry), set()).add(shape_of(case.cell, spec.head, spec.num_layers))
    return targets


def measured_shapes(cases: list[Case], registry: Registry) -> set[Shape]:
    """The (cell, head, layers) cases of the conformance check that the networks of ``cases`` need."""
    return set().union(*conformance_targets(cases, registry).values())


def checked_target(case: Case, registry: Registry) -> Target:
    """The implementation whose conformance a case's numbers rest on: the one chosen, else the default its
    network resolves to (tensorflow: xla at H <= 64, graph above), not the default at the check's tiny sizes."""
    if case.implementation is not None:
        return case.backend, case.device, case.implementation
    try:
        return case.backend, case.device, registry.backend(case.backend).default_implementation(
            case.device, _spec(case, registry))
    except Exception:  # none runs on the device, or the plugin's own code fails for this network: the check
        return case.backend, case.device, None  # and the case each meet it and say so, and the run goes on


def _spec(case: Case, registry: Registry) -> ModelSpec:
    return case_spec(registry.task(case.task).with_options(profile=case.profile, **case.task_options), case)


def _record_skipped(report: RunReport, options: RunOptions, registry: Registry, writer: RecordWriter) -> None:
    """A "skipped" record, with why, for each case of a backend that cannot run here and each training case
    of an inference-only backend (once: resume keeps them).

    Its device is nominal ("cpu", "gpu:0" for a GPU-only precision) and so is its implementation (the
    default): an unavailable backend cannot be asked for its devices, nor have the one named.
    """
    skipped = report.skipped_backends
    reasons = list(report.skipped_cases)
    if skipped:
        nominal = "gpu:0" if options.dtype in GPU_ONLY_PRECISIONS else "cpu"
        once = dataclasses.replace(options, devices=(nominal,), rounds=1, implementations=("default",))
        reasons += [(case, skipped[case.backend].message(case.backend))
                    for case in expand(once, registry, list(skipped), {name: [nominal] for name in skipped})]
    if not reasons:
        return
    done, machine = finished_case_ids(report.run_dir), read_environment(report.run_dir).get("machine", "")
    for case, reason in reasons:
        if case.case_id not in done:
            writer.append(build_record_of(case, run_id=report.run_id, status="skipped", error=reason,
                                          machine=machine, started_at=now_iso(), duration_s=0.0,
                                          measured=_named_implementation(case, registry)))


def _named_implementation(case: Case, registry: Registry) -> dict[str, Any]:
    """The implementation a skipped case names (an export path's training case), as a worker records it, so
    reports name the contender that skipped it; nothing for the default."""
    if case.implementation is None:
        return {}
    backend = registry.backend(case.backend)
    backend.use_implementation(case.implementation)
    return {"implementation": backend.implementation_record(case.device, _spec(case, registry))}


def _order_seed(options: RunOptions) -> int:
    """The seed of the run's random order, which ``run`` drew (or read from run.json) before anything ran."""
    assert options.order_seed is not None
    return options.order_seed


def _timeout(options: RunOptions) -> float:
    """The per-case timeout, which ``run`` resolved (case_timeout_s) before anything ran."""
    assert options.timeout_s is not None
    return options.timeout_s


def load_run_options(run_dir: Path, saved: dict[str, Any] | None = None) -> RunOptions:
    """The options a run folder was started with (its ``run.json``), validated as new ones are."""
    saved = rundir.read_run_file(run_dir) if saved is None else saved
    try:
        return RunOptions().with_config(saved["options"])
    except UsageError as exc:
        raise UsageError(f"{run_dir / RUN_FILE}: {exc}") from None


def _run_cases(report: RunReport, options: RunOptions, registry: Registry, executor: Executor, progress: Reporter,
               writer: RecordWriter) -> None:
    done = finished_case_ids(report.run_dir)
    todo = [case for case in report.cases if case.case_id not in done]
    save = _Saver(report.run_dir, report.run_id, _timeout(options), writer, registry)
    progress.begin(len(report.cases), len(report.cases) - len(todo))
    try:
        # closing(): Ctrl-C while a record is written still stops the executor's running cases.
        processes = schedule(todo, _order_seed(options))
        with closing(executor.run(processes, _timeout(options), progress.start)) as results:
            for result in results:
                report.records.append(save(result))
                progress.finish(result.case, report.records[-1])
    finally:
        progress.end()


class _Saver:
    """Turns each finished case into a validated record on disk, with the environment of its machine."""

    def __init__(self, run_dir: Path, run_id: str, timeout_s: float, writer: RecordWriter, registry: Registry) -> None:
        self.run_dir, self.run_id, self.timeout_s, self.writer = run_dir, run_id, timeout_s, writer
        self.registry = registry
        self.local = read_environment(run_dir)
        self.machines: set[str] = set()
        self.conformance = read_check_results(run_dir)

    def __call__(self, result: Finished) -> dict[str, Any]:
        env = self.local if result.environment is None else result.environment
        self._remember(result.environment)
        record = build_record(result.case, result.outcome, self.run_id, env.get("machine", ""),
                              self.timeout_s, result.started_at)
        record["shared_node"] = result.shared_node  # other cases may have run beside it (--ray-share-nodes)
        add_peak_fraction(record, env.get("matmul_peak_gflops") or {})
        checked = self.conformance.get(precheck_key(*checked_target(result.case, self.registry)))
        if checked is not None:
            record["conformance"] = checked.to_dict()
        self.writer.append(record)
        return record

    def _remember(self, env: dict[str, Any] | None) -> None:
        """Save the environment of a machine an executor reported (a Ray node) the first time it shows up."""
        if env and "hostname" in env and env.get("machine") not in self.machines:  # not a lost task's label
            self.machines.add(env.get("machine", ""))
            write_machine_environment(self.run_dir, env)


def add_peak_fraction(record: dict[str, Any], peak: dict[str, float]) -> None:
    """Achieved GFLOP/s as a share of the measured matmul peak of the machine that ran it, for train and infer.

    Only for float32 cases: the peak is a float32 matmul's, and float64 or bfloat16 have peaks of their own.
    """
    best = peak.get("best") if (record.get("config") or {}).get("dtype", "float32") == "float32" else None
    throughput = record.get("throughput") or {}
    for kind in ("train", "infer"):
        block = throughput.get(kind)
        if best and block and block.get("gflops") is not None:
            block["peak_fraction"] = block["gflops"] / best
