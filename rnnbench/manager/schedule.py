"""Which cases share a worker process, and in what order the processes run.

The process is the statistical unit of a timing (``rnnbench.report.significance``):
two fresh processes of one case differ far more than the calls inside one
(``docs/measurement.md``), so each timed case (throughput, latency) runs in one
process per round and every test takes one value per process. A process costs its start,
the framework's import and its thread pools (seconds for TensorFlow and
JAX), so one process serves every timed case of its backend in a round,
each case built, compiled and timed in turn: the cost is paid once a round
while each case still gets one value per process.

Randomised multiple interleaved trials (Abedi and Brecht 2017): within a
round the processes run in a fresh random order, and so do the cases inside
each process, so a slow spell of the machine, or a position in the process,
falls on no backend or case more than chance says. Rounds run in order.

A memory case needs a process of its own, since its peak is measured from
the process's first step; the accuracy case of the same configuration
follows it in that process (training needs no fresh process, and so does
not pay a start of its own). These processes run before the rounds, in a
random order too.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from rnnbench.case import TIMED_MODES, Case

ORDER_SEED_MAX = 2**32 - 1


def schedule(cases: Sequence[Case], seed: int) -> list[list[Case]]:
    """The cases as worker processes, in the order to run them: memory (then accuracy) first, then each round.

    Every case appears exactly once; ``seed`` fixes every random order.
    """
    rng = random.Random(seed)
    alone, timed = _memory_processes(cases), [c for c in cases if c.mode in TIMED_MODES]
    placed = {id(c) for group in alone for c in group} | {id(c) for c in timed}
    alone += [[c] for c in cases if id(c) not in placed]  # accuracy without its memory case, each alone
    rng.shuffle(alone)
    processes = alone
    for round_ in sorted({c.repeat for c in timed}):
        shared = _shared_processes([c for c in timed if c.repeat == round_])
        for group in shared:
            rng.shuffle(group)
        rng.shuffle(shared)
        processes += shared
    return processes


def _memory_processes(cases: Sequence[Case]) -> list[list[Case]]:
    """Each memory case, with the accuracy case of the same configuration after it where there is one."""
    accuracy = {_as_memory(c): c for c in cases if c.mode == "accuracy"}
    return [[c, accuracy[c.case_id]] if c.case_id in accuracy else [c] for c in cases if c.mode == "memory"]


def _as_memory(case: Case) -> str:
    """The id of the memory case of the same configuration (stop_at_target is an accuracy case's only)."""
    return dataclasses.replace(case, mode="memory", stop_at_target=False).case_id


def process_settings(case: Case) -> tuple[object, ...]:
    """What a worker process sets once for every case it runs: they must agree to share it."""
    return (case.backend, case.device, case.threads, case.flush_denormals, case.memory_limit_mb, case.dtype,
            case.repeat)


def _shared_processes(cases: Sequence[Case]) -> list[list[Case]]:
    """The timed (throughput and latency) cases of one round, one process per backend and process-wide settings."""
    by_settings: dict[tuple[object, ...], list[Case]] = {}
    for case in cases:
        by_settings.setdefault(process_settings(case), []).append(case)
    return list(by_settings.values())


def draw_seed() -> int:
    """A fresh seed for a new run's order, saved in its run.json so a resume keeps it."""
    return random.SystemRandom().randint(0, ORDER_SEED_MAX)
