"""Guards: what makes a timing implausible, flagged rather than averaged in.

``add_flags`` gives every row of a results frame an ``implausible`` column, a list
of one-line reasons, empty when nothing is odd. Reports put them in the
verdict's caveats and beside the case. Each guard is a rule a reader can
check by hand:

- an outlier process: a process whose median step time is more than
  ``OUTLIER_RATIO`` times (or less than 1 / that) the median of the other
  processes of its case;
- a trend within a process: its samples rise or fall monotonically enough
  (Spearman, p < ``TREND_ALPHA``) and by more than ``TREND_CHANGE`` over the
  process (the Theil-Sen slope), as a machine warming up, throttling, or a
  model drifting into slow arithmetic does;
- a cheaper cell that costs more: on one backend, task and shape, a cell
  whose training step takes more than ``CELL_RATIO`` times as long as a
  cell with more FLOPs (an RNN slower than the LSTM of the same shape);
- a busy machine: the process's threads waited for a CPU more than
  ``WAIT_SHARE`` of the timed pass's wall time and more than ``WAIT_RATIO``
  times as long as the case's other processes did (something else ran on its
  cores: ``rnnbench.worker.contention``; a framework whose own pool has more
  threads than cores waits in every process alike, and is not flagged). Such
  a process timed its neighbour, not its backend, so it is the one flag that
  also leaves the process out of the tests and intervals
  (``{kind}_process_s`` is NaN in the frame);
- subnormal values: more than ``SUBNORMAL_SHARE`` of the parameters or
  gradients at the end of a throughput process are subnormal, which makes
  x86 arithmetic many times slower where a framework does not flush them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

OUTLIER_RATIO = 1.5
# At p < 0.05 a run's hundreds of processes would show a dozen chance trends; p < 0.01 needs 7 samples or
# more (Spearman's exact p of a perfect order of 6 is 0.0028, of 5 is 0.017), so the quick profile's five
# samples a process are never flagged: its outlier guard speaks for it.
TREND_ALPHA = 0.01
TREND_CHANGE = 0.25
TREND_MIN_SAMPLES = 7
CELL_RATIO = 1.25
SUBNORMAL_SHARE = 1e-3
# Measured on the 2-core VM: a quiet worker's threads wait 3-9% of the wall time, beside one busy loop 46%.
WAIT_SHARE = 0.25
# JAX's inference on IMDB waited 25-60% in every process (XLA's pool on 2 cores): a neighbour shows as a
# process that waited far longer than its siblings.
WAIT_RATIO = 2.0
KINDS = {"train": "training", "infer": "inference"}


def add_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with an ``implausible`` column: per row, the guards it trips (a list of strings)."""
    frame = frame.copy()
    flags: dict[Any, list[str]] = {index: [] for index in frame.index}
    if not frame.empty:
        timed = frame[(frame["mode"] == "throughput") & (frame.status == "ok")]
        for index, row in timed.iterrows():
            flags[index] += trend_flags(row) + subnormal_flags(row.record)
        for index, kind, reason in wait_flags(timed):
            flags[index].append(reason)
            frame.loc[index, f"{kind}_process_s"] = math.nan  # it timed its neighbour: out of every test
        for reason_of in (outlier_flags, cell_order_flags):
            for index, reason in reason_of(timed):
                flags[index].append(reason)
    frame["implausible"] = pd.Series(flags, dtype=object)
    return frame


def trend_flags(row: pd.Series) -> list[str]:
    """A monotonic drift of the step time within the process, large enough to matter."""
    found = []
    for kind, name in KINDS.items():
        samples = row.get(f"{kind}_samples_s")
        change = trend(samples) if isinstance(samples, list) else None
        if change is not None:
            found.append(f"{name} step time {'rose' if change > 0 else 'fell'} {abs(change):.0%} within the "
                         f"process ({len(samples)} samples)")
    return found


def trend(samples: list[float]) -> float | None:
    """The relative change over the samples when it is a significant monotonic trend beyond TREND_CHANGE."""
    from scipy import stats

    values = np.asarray(samples, dtype=np.float64)
    if values.size < TREND_MIN_SAMPLES or np.ptp(values) == 0:
        return None
    order = np.arange(values.size)
    if stats.spearmanr(order, values).pvalue >= TREND_ALPHA:
        return None
    slope = stats.theilslopes(values, order).slope
    change = float(slope * (values.size - 1) / np.median(values))
    return change if abs(change) > TREND_CHANGE else None


def wait_flags(timed: pd.DataFrame) -> list[tuple[Any, str, str]]:
    """(row, kind, reason) for each timed pass that waited for a CPU long, and far longer than its siblings."""
    found = []
    for _, case in timed.groupby(["run_id", "case_key"], sort=False):
        for kind, name in KINDS.items():
            shares = pd.to_numeric(case.get(f"{kind}_cpu_wait_share"), errors="coerce").dropna()
            for index, share in shares.items():
                others = shares.drop(index)
                usual = float(others.median()) if not others.empty else 0.0
                siblings = f"its siblings {usual:.0%}" if not others.empty else "no sibling recorded its own"
                if share > WAIT_SHARE and share > WAIT_RATIO * usual:
                    found.append((index, kind, f"{name}: the process's threads waited for a CPU {share:.0%} of the "
                                               f"timed time, {siblings} (something else ran on its cores); left "
                                               "out of the tests and intervals"))
    return found


def subnormal_flags(record: dict[str, Any]) -> list[str]:
    shares = record.get("subnormal") or {}
    found = [f"{share:.1%} of the {what} are subnormal at the end of the process (slow arithmetic where the "
             f"framework does not flush them)" for what, share in
             (("gradients", shares.get("grads")), ("parameters", shares.get("params")))
             if isinstance(share, (int, float)) and share > SUBNORMAL_SHARE]
    return found


def outlier_flags(timed: pd.DataFrame) -> list[tuple[Any, str]]:
    """Processes far from the median of the other processes of their case."""
    found = []
    for _, case in timed.groupby(["run_id", "case_key"], sort=False):
        for kind, name in KINDS.items():
            medians = pd.to_numeric(case[f"{kind}_step_s"], errors="coerce").dropna()
            if len(medians) < 3:
                continue
            for index, value in medians.items():
                others = float(medians.drop(index).median())
                ratio = value / others if others > 0 else math.inf
                if ratio > OUTLIER_RATIO or ratio < 1 / OUTLIER_RATIO:
                    found.append((index, f"{name}: this process took {ratio:.2f}x the median of the other "
                                         f"{len(medians) - 1} processes of the case"))
    return found


def cell_order_flags(timed: pd.DataFrame) -> list[tuple[Any, str]]:
    """A cell whose training step costs more than a cell with more FLOPs of the same backend, task and shape."""
    found = []
    rows = timed.assign(flops=timed.record.map(lambda r: ((r.get("flops") or {}).get("train_step"))),
                        shape=timed.record.map(_shape))
    for _, same in rows.groupby(["run_id", "backend", "task", "shape"], sort=False):
        steps = same.groupby("cell").agg(step=("train_step_s", "median"), flops=("flops", "max"))
        steps = steps.dropna()
        for cell, cheap in steps.iterrows():
            dearer = steps[steps.flops > cheap.flops]
            if dearer.empty:
                continue
            worst = dearer.step.idxmin()
            ratio = cheap.step / dearer.step[worst]
            if ratio > CELL_RATIO:
                for index in same.index[same.cell == cell]:
                    found.append((index, f"training: the {cell} step took {ratio:.1f}x the {worst} step of the "
                                         "same backend and shape, which has more FLOPs"))
    return found


def _shape(record: dict[str, Any]) -> str:
    """What must match for cells to be compared by cost: the batch, the sizes around the cell, the settings."""
    spec, config = record.get("spec") or {}, record.get("config") or {}
    parts = [record.get("batch"), {k: spec.get(k) for k in ("hidden_size", "num_layers", "head", "dtype")},
             {k: config.get(k) for k in ("device", "threads", "implementation", "flush_denormals")}]
    return repr(parts)
