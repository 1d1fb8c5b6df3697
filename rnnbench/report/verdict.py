"""Who wins what, by how much, and how sure we are: the verdict every report opens with.

Built from the report's per-task tables (``rnnbench.report.tables``), so it
agrees with them number for number:

- per task, cell and configuration: the fastest backend for training and for
  inference, and the leanest in memory, each with its margin over the
  runner-up and whether that margin is significant by the project's own test
  (``rnnbench.report.compare``: Mann-Whitney U and a bootstrap interval of
  the ratio of medians; per-round medians with several rounds); and where
  accuracy cases reached the task's target (the full profile), the first to
  reach it (MLPerf's time to train), with the margin and whether the seeds'
  ranges are apart;
- per backend: the geometric mean over cases of its speed relative to the
  fastest backend of each case (pyperf's suite geomean; 1.0 = fastest
  everywhere), training and inference apart, with a bootstrap interval over
  the cases;
- a heatmap of those relative speeds (rows task x cell, columns backends);
- a few sentences generated from the numbers, and the caveats that apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rnnbench.case import INFERENCE_ONLY
from rnnbench.conformance import REFERENCE_BACKEND
from rnnbench.report.deployment import serving_answer
from rnnbench.report.model import ReportData, is_missing
from rnnbench.report.noise import find_noise, noise_line
from rnnbench.report.significance import ONE_PROCESS, TOO_FEW, process_test, round_of
from rnnbench.report.tables import GROUP, task_table, variant
from rnnbench.results.equivalence import EQUIVALENCE_TOLERANCE
from rnnbench.results.stats import CONFIDENCE, RESAMPLES

KINDS = {"train": "training", "infer": "inference"}
MEASURES = ("training", "inference", "memory", "time to target")  # a Win's measure, in the order shown
HEADINGS = {"training": "fastest training", "inference": "fastest inference", "memory": "leanest memory",
            "time to target": "first to target"}  # a table of winners' column for each measure


@dataclass(frozen=True, kw_only=True)
class Win:
    """The best backend of one case for one measure, and how far ahead it is."""

    task: str
    cell: str
    case: str  # the cell, and the configuration where the run varies it: "lstm", "lstm H64 B32"
    measure: str  # "training", "inference" or "memory"
    winner: str
    runner_up: str | None  # None: the only backend measured
    margin: float | None  # winner over runner-up: x times faster, or x times less memory
    # "significant", "not significant", "too few processes", "one process: not tested", "one backend",
    # "not tested" (no timings to test); time to target:
    # "one seed", "seed ranges apart", "seed ranges overlap"
    sureness: str


@dataclass(frozen=True, kw_only=True)
class Score:
    """One backend's suite geomean of relative speed (1.0: the fastest in every case)."""

    backend: str
    measure: str  # "training" or "inference"
    geomean: float
    low: float  # bootstrap interval over the cases
    high: float
    cases: int
    wins: int


@dataclass(frozen=True, kw_only=True)
class Heatmap:
    measure: str
    rows: tuple[str, ...]  # "task cell" (and the configuration when it varies)
    backends: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]  # relative speed per row and backend; None: not measured


@dataclass(frozen=True, kw_only=True)
class Verdict:
    wins: tuple[Win, ...]
    scores: tuple[Score, ...]  # best first within each measure
    heatmaps: tuple[Heatmap, ...]
    answer: tuple[str, ...]  # plain sentences
    caveats: tuple[str, ...]


def verdict(data: ReportData) -> Verdict:
    tables = {task.name: task_table(data.frame, task) for task in data.tasks}
    samples = _samples(data.frame)
    wins = tuple(win for name, table in tables.items() for win in _wins(name, table, samples))
    scores = tuple(score for kind in KINDS for score in _scores(tables, kind, wins))
    heatmaps = tuple(_heatmap(tables, kind) for kind in KINDS)
    return Verdict(wins=wins, scores=scores, heatmaps=heatmaps, answer=_answer(data, scores, wins),
                   caveats=_caveats(data, tables))


# ---- per case -------------------------------------------------------------------------------------------


def _samples(frame: pd.DataFrame) -> dict[tuple, dict[int, float]]:
    """Per (task, *GROUP, backend, kind): each ok throughput record's median step time by its round, one a process."""
    rows = frame[(frame["mode"] == "throughput") & (frame.status == "ok")]
    found: dict[tuple, dict[int, float]] = {}
    for _, row in rows.assign(variant=rows.record.map(variant)).iterrows():
        for kind in KINDS:
            median = row[f"{kind}_process_s"]  # NaN for a process that timed a busy machine
            if not is_missing(median) and median > 0:
                key = (row.task, *(row[k] for k in GROUP), row.backend, kind)
                found.setdefault(key, {})[round_of(row["repeat"])] = float(median)
    return found


def _label(row: pd.Series, varies: bool) -> str:
    if not varies:
        return str(row.cell)
    shape = " ".join(f"{letter}{int(row[k])}" for letter, k in (("B", "batch_size"), ("T", "seq_len"),
                     ("H", "hidden_size"), ("L", "num_layers")) if not is_missing(row[k]))
    device = "" if row.device == "cpu" else f" {row.device}"
    precision = "" if row.dtype == "float32" else f" {row.dtype}"  # mixed precision is never ranked with float32
    return f"{row.cell} {shape}{device}{precision}".strip()


def _groups(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    varies = table.groupby(GROUP, dropna=False).ngroups > table.cell.nunique()
    return [(_label(group.iloc[0], varies), group) for _, group in table.groupby(GROUP, dropna=False, sort=False)]


def _wins(task: str, table: pd.DataFrame, samples: dict[tuple, dict[int, float]]) -> list[Win]:
    found = []
    for label, group in _groups(table):
        for kind, measure in KINDS.items():
            ranked = group[group[f"{kind}_sps"].notna()].sort_values(f"{kind}_sps", ascending=False)
            if not ranked.empty:
                found.append(_speed_win(task, label, measure, kind, ranked, samples))
        lean = group[group.memory_peak_mb.notna()].sort_values("memory_peak_mb")
        if not lean.empty:
            found.append(_memory_win(task, label, lean))
        reached = group[group.time_to_target_s.notna()].sort_values("time_to_target_s")
        if not reached.empty:
            found.append(_target_win(task, label, reached))
    return found


def _target_win(task: str, label: str, reached: pd.DataFrame) -> Win:
    """The first backend to the target (median over seeds), its lead, and whether the seeds' ranges part."""
    first = reached.iloc[0]
    if len(reached) < 2:
        return Win(task=task, cell=str(first.cell), case=label, measure="time to target", winner=str(first.backend),
                   runner_up=None, margin=None, sureness="one backend")
    second = reached.iloc[1]
    if min(first.target_reached, second.target_reached) < 2:
        tested = "one seed"
    elif first.time_to_target_high_s < second.time_to_target_low_s:
        tested = "seed ranges apart"
    else:
        tested = "seed ranges overlap"
    return Win(task=task, cell=str(first.cell), case=label, measure="time to target", winner=str(first.backend),
               runner_up=str(second.backend), margin=float(second.time_to_target_s / first.time_to_target_s),
               sureness=tested)


def _speed_win(task: str, label: str, measure: str, kind: str, ranked: pd.DataFrame,
               samples: dict[tuple, dict[int, float]]) -> Win:
    first = ranked.iloc[0]
    if len(ranked) < 2:
        return Win(task=task, cell=str(first.cell), case=label, measure=measure, winner=str(first.backend),
                   runner_up=None, margin=None, sureness="one backend")
    second = ranked.iloc[1]
    key = (task, *(first[k] for k in GROUP[:-1]), first.cell)
    mine, theirs = samples.get((*key, first.backend, kind)), samples.get((*key, second.backend, kind))
    tested = "not tested"
    if mine and theirs:  # the runner-up's processes against the winner's, paired by round: "slower" is a sure win
        outcome = process_test(mine, theirs, paired=True).outcome
        tested = {"slower": "significant", TOO_FEW: TOO_FEW, ONE_PROCESS: ONE_PROCESS}.get(outcome, "not significant")
    return Win(task=task, cell=str(first.cell), case=label, measure=measure, winner=str(first.backend),
               runner_up=str(second.backend), margin=float(first[f"{kind}_sps"] / second[f"{kind}_sps"]),
               sureness=tested)


def _memory_win(task: str, label: str, lean: pd.DataFrame) -> Win:
    first = lean.iloc[0]
    if len(lean) < 2:
        return Win(task=task, cell=str(first.cell), case=label, measure="memory", winner=str(first.backend),
                   runner_up=None, margin=None, sureness="one backend")
    second = lean.iloc[1]
    margin = second.memory_peak_mb / first.memory_peak_mb if first.memory_peak_mb > 0 else math.inf
    return Win(task=task, cell=str(first.cell), case=label, measure="memory", winner=str(first.backend),
               runner_up=str(second.backend), margin=float(margin), sureness="not tested")  # one peak per round


# ---- per backend ----------------------------------------------------------------------------------------


def _relative(tables: dict[str, pd.DataFrame], kind: str) -> list[tuple[str, str, dict[str, float]]]:
    """Per case (task, label): each backend's speed over the fastest backend's."""
    cases = []
    for task, table in tables.items():
        for label, group in _groups(table):
            speeds = {str(r.backend): float(r[f"{kind}_sps"]) for _, r in group.iterrows()
                      if not is_missing(r[f"{kind}_sps"])}
            if speeds:
                best = max(speeds.values())
                cases.append((task, label, {b: s / best for b, s in speeds.items()}))
    return cases


def _scores(tables: dict[str, pd.DataFrame], kind: str, wins: Sequence[Win]) -> list[Score]:
    cases = _relative(tables, kind)
    backends = sorted({b for _, _, speeds in cases for b in speeds})
    scores = []
    for backend in backends:
        values = np.array([speeds[backend] for _, _, speeds in cases if backend in speeds])
        low, high = _geomean_interval(values)
        scores.append(Score(backend=backend, measure=KINDS[kind], geomean=_geomean(values), low=low, high=high,
                            cases=int(values.size),
                            wins=sum(w.winner == backend and w.measure == KINDS[kind] for w in wins)))
    return sorted(scores, key=lambda s: -s.geomean)


def _geomean(values: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(values))))


def _geomean_interval(values: np.ndarray) -> tuple[float, float]:
    """Percentile bootstrap interval of the geometric mean over the cases (scipy.stats.bootstrap, seeded)."""
    if values.size < 2 or np.ptp(values) == 0:
        point = _geomean(values)
        return point, point
    from scipy import stats

    result = stats.bootstrap((np.log(values),), np.mean, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                             method="percentile", vectorized=True, rng=np.random.default_rng(0))
    return float(np.exp(result.confidence_interval.low)), float(np.exp(result.confidence_interval.high))


def _heatmap(tables: dict[str, pd.DataFrame], kind: str) -> Heatmap:
    cases = _relative(tables, kind)
    backends = tuple(sorted({b for _, _, speeds in cases for b in speeds}))
    return Heatmap(measure=KINDS[kind], rows=tuple(f"{task} {label}" for task, label, _ in cases), backends=backends,
                   values=tuple(tuple(speeds.get(b) for b in backends) for _, _, speeds in cases))


# ---- in words ---------------------------------------------------------------------------------------


def _answer(data: ReportData, scores: Sequence[Score], wins: Sequence[Win]) -> tuple[str, ...]:
    machines = sorted({str(m) for m in data.frame.machine.dropna().unique()}) or ["this machine"]
    threads = sorted({int(t) for t in data.frame.threads.dropna().unique()})
    where = f"On {', '.join(machines)}" + (f" with {', '.join(map(str, threads))} threads" if threads else "")
    lines = []
    for measure in KINDS.values():
        ranked = [s for s in scores if s.measure == measure]
        if ranked:
            lines.append(f"{where}, {measure}: " + _overall(ranked, [w for w in wins if w.measure == measure]))
    for task in sorted({w.task for w in wins}):
        trained = [w for w in wins if w.task == task and w.measure == "training"]
        by_winner: dict[str, list[str]] = {}
        for w in trained:
            by_winner.setdefault(w.winner, []).append(w.case + (f" ({w.margin:.2f}x)" if w.margin else ""))
        if by_winner:
            lines.append(f"{task}: " + "; ".join(f"{b} trains {', '.join(c)} fastest" for b, c in by_winner.items())
                         + ".")
    for task in sorted({w.task for w in wins}):
        first = [w for w in wins if w.task == task and w.measure == "time to target"]
        if first:
            lines.append(f"{task}: " + "; ".join(
                f"{w.winner} reaches the {w.case} target first" + (
                    f", {w.margin:.2f}x sooner than {w.runner_up} ({w.sureness})" if w.runner_up else "")
                for w in first) + ".")
    if same := equivalence_line(data.frame):
        lines.append(same)
    lines += serving_answer(data.frame)
    memory = [w for w in wins if w.measure == "memory" and w.runner_up is not None]
    if memory:
        lean = max({w.winner for w in memory}, key=lambda b: sum(w.winner == b for w in memory))
        lines.append(f"Memory: {lean} is the leanest in {sum(w.winner == lean for w in memory)} of {len(memory)} "
                     f"cases (peak resident memory above the post-setup baseline).")
    return tuple(lines)


def _overall(ranked: Sequence[Score], wins: Sequence[Win]) -> str:
    """Who leads over all cases, whether the lead is clear (intervals apart), and the cases won."""
    best, decided = ranked[0], [w for w in wins if w.runner_up is not None]
    sure = sum(w.sureness == "significant" and w.winner == best.backend for w in decided)
    geomeans = ", ".join(f"{s.backend} {score_text(s)}" for s in ranked)
    clear = len(ranked) == 1 or best.low > ranked[1].high
    lead = (f"{best.backend} is the fastest overall" if clear else
            f"no backend is clearly fastest overall ({best.backend} leads, but its interval overlaps "
            f"{ranked[1].backend}'s)")
    return (f"{lead}; geometric mean of the speed relative to the fastest backend of each case: {geomeans}. "
            f"{best.backend} wins {best.wins} of {len(decided) or best.cases} cases, {sure} of them significantly.")


def _caveats(data: ReportData, tables: dict[str, pd.DataFrame]) -> tuple[str, ...]:
    frame, notes = data.frame, unreadable_caveats(data.skipped)
    by_design = (frame.status == "skipped") & frame.error.fillna("").str.contains(INFERENCE_ONLY, regex=False)
    if by_design.any():
        names = sorted(set(frame[by_design].backend))
        they = ("does not train: its", "it competes") if len(names) == 1 else ("do not train: their", "they compete")
        notes.append(f"{', '.join(names)} {they[0]} {int(by_design.sum())} memory and accuracy cases are skipped by "
                     f"design; {they[1]} in inference and serving only.")
    not_ok = frame[(frame.status != "ok") & ~by_design]
    if not not_ok.empty:
        counts = not_ok.groupby("status").size()
        notes.append("Cases that did not finish are left out: " + ", ".join(f"{n} {s}" for s, n in counts.items())
                     + " (see each task's status column).")
    unchecked = {f"{r.backend}/{r.device}" for _, r in frame.iterrows() if r.conformance_ok is not True
                 and r.status == "ok"}
    if unchecked:
        notes.append(f"Conformance failed or was not checked for {', '.join(sorted(unchecked))}: "
                     "their numbers may not compute the reference function.")
    unstable = sum(int(t[f"{k}_unstable"].eq(True).sum()) for t in tables.values() for k in KINDS)
    if unstable:
        notes.append(f"{unstable} timings are unstable (spread above 10% of the median): the machine was busy; "
                     "their margins are less certain.")
    notes.extend(_equivalence_caveats(frame))
    notes.extend(implausible_caveats(frame))
    if any((t.target_reached == 1).any() for t in tables.values() if "target_reached" in t):
        notes.append("Time to target rests on one seed: float32 runs from the same weights drift apart over "
                     "thousands of steps, so the step at which the target falls is partly luck; --seed 0 "
                     "--seed 1 --seed 2 gives the median and range over seeds.")
    notes.extend(noise_caveats(data))
    rounds = frame.loc[frame["mode"] == "throughput", "repeat"].nunique()
    if rounds == 1:
        notes.append("One process per case: no speed difference is tested, since calls within one process are not "
                     "independent (two processes of one case can differ far more than its calls); --rounds 3 or "
                     "more (the quick profile's 5) gives each win a test over processes.")
    return tuple(notes)


def noise_caveats(data: ReportData) -> list[str]:
    """What the protocol resolves on each machine that timed something, from its newest A/A run (rnnbench noise)."""
    lines = []
    for mode, what, flag in (("throughput", "", ""), ("latency", "latency ", " --mode latency")):
        timed = data.frame[data.frame["mode"] == mode]
        for machine in sorted({str(m) for m in timed.machine.dropna()}):
            keys = set(timed.loc[timed.machine == machine, "case_key"])
            found = next((n for d in data.run_dirs if (n := find_noise(Path(d), machine, mode, keys)) is not None),
                         None)
            lines.append(noise_line(found).replace("On this machine", f"On {machine}", 1) if found else
                         f"No {what}A/A run of {machine} beside these results: `rnnbench noise{flag}` measures "
                         "which differences the protocol resolves there, and how often it calls identical cases "
                         "different.")
    return lines


SHOWN_FLAGS = 12  # implausible timings named one by one in the caveats; the rest are counted


def unreadable_caveats(skipped: Sequence[str]) -> list[str]:
    """One caveat per line, file or run the report could not read and left out, named, the rest counted."""
    lines = [f"Left out, unreadable: {line}" for line in skipped[:SHOWN_FLAGS]]
    if len(skipped) > SHOWN_FLAGS:
        lines.append(f"{len(skipped) - SHOWN_FLAGS} more unreadable lines or files were left out: "
                     "`rnnbench report` names each on standard error.")
    return lines


def implausible_caveats(frame: pd.DataFrame) -> list[str]:
    """One caveat per implausible timing (rnnbench.results.guards), named, the rest counted."""
    if "implausible" not in frame:
        return []
    flagged = frame[frame.implausible.map(lambda f: isinstance(f, list) and bool(f))]
    rounds: dict[tuple[str, str], list[int]] = {}  # (case, reason) -> the rounds it was seen in
    for _, row in flagged.iterrows():
        for reason in row.implausible:
            case = f"{row.backend} {row.task} {row.cell}" + ("" if row["dtype"] == "float32" else f" {row['dtype']}")
            rounds.setdefault((case, reason), []).append(round_of(row["repeat"]))
    lines = [f"Implausible: {case} ({_rounds_text(seen)}): {reason}." for (case, reason), seen in rounds.items()]
    if len(lines) > SHOWN_FLAGS:
        lines = lines[:SHOWN_FLAGS] + [f"{len(lines) - SHOWN_FLAGS} more implausible timings: see the "
                                       "'implausible' column of load_results()."]
    return lines


def _rounds_text(rounds: list[int]) -> str:
    ordered = sorted(set(rounds))
    return f"round {ordered[0]}" if len(ordered) == 1 else f"rounds {', '.join(map(str, ordered))}"


def _equivalence_caveats(frame: pd.DataFrame) -> list[str]:
    """Backends whose equal-step loss curve left the reference's: they do not learn the same function."""
    if "equivalence_ok" not in frame:
        return []
    off = frame[frame.equivalence_ok.eq(False)]
    if off.empty:
        return []
    cases = ", ".join(f"{r.backend} {r.task} {r.cell} ({r.equivalence_max_rel_gap:.2g})" for _, r in off.iterrows())
    return [f"Trains differently from {REFERENCE_BACKEND}: {cases}: the loss curve over the same steps from the "
            f"same weights leaves the reference's by more than {EQUIVALENCE_TOLERANCE:g} (relative); those "
            "speeds are not like for like."]


def equivalence_line(frame: pd.DataFrame) -> str | None:
    """One sentence on the equal-step check of a run: how many backends learned the same, the worst gap."""
    if "equivalence_max_rel_gap" not in frame:
        return None
    gaps = frame[frame.equivalence_max_rel_gap.notna()]
    if gaps.empty:
        return None
    steps = sorted({f"{r.task} {int(r.train_steps)}" for _, r in gaps.iterrows() if not is_missing(r.train_steps)})
    same = int(gaps.equivalence_ok.eq(True).sum())
    worst = gaps.loc[gaps.equivalence_max_rel_gap.idxmax()]
    return (f"Same learning: {same} of {len(gaps)} accuracy cases follow the {REFERENCE_BACKEND} reference's loss "
            f"curve step for step within {EQUIVALENCE_TOLERANCE:g} (worst {worst.equivalence_max_rel_gap:.1e}, "
            f"{worst.backend} {worst.task} {worst.cell}; steps per task: {', '.join(steps)}).")


# ---- as text ------------------------------------------------------------------------------------------


def win_text(win: Win) -> str:
    """"torch, 1.34x over numpy (significant)"."""
    if win.runner_up is None or win.margin is None:
        return f"{win.winner} (the only backend measured)"
    return f"{win.winner}, {win.margin:.2f}x over {win.runner_up} ({win.sureness})"


def score_text(score: Score) -> str:
    interval = "" if score.low == score.high else f" [{score.low:.2f}, {score.high:.2f}]"
    return f"{score.geomean:.2f}{interval}"


def measures(wins: Sequence[Win]) -> list[str]:
    """The measures some win is for, in MEASURES' order: the columns of a table of winners."""
    return [m for m in MEASURES if any(w.measure == m for w in wins)]


def rows_by_case(wins: Sequence[Win]) -> list[tuple[str, str, dict[str, Win]]]:
    """(task, case, {measure: win}) in the order the wins came."""
    rows: dict[tuple[str, str], dict[str, Win]] = {}
    for win in wins:
        rows.setdefault((win.task, win.case), {})[win.measure] = win
    return [(task, case, by_measure) for (task, case), by_measure in rows.items()]
