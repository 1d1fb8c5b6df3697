"""The equal-step check: each backend's training loss, step by step, against the NumPy reference's.

In the smoke and quick profiles every backend of a (task, cell) trains the
same number of steps from the same weights on the same batches and records
the loss of every step (``Budget.loss_every_step``). Backends that compute
the same function follow the same curve up to float rounding, so the
largest relative gap between a backend's curve and the reference's at the
same steps says whether it *learns* the same, independently of how fast it
ran. A gap beyond ``EQUIVALENCE_TOLERANCE`` means the backend trains
differently (another update rule, clipping, loss or initialisation), and
its speed is not a like-for-like figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from rnnbench.conformance import REFERENCE_BACKEND

# Relative gap of the per-step loss allowed in float32. Measured on the 2-core EPYC VM (2026-12-01,
# `rnnbench run --backend all --mode accuracy`, quick profile, 3 tasks x 3 cells): torch, tensorflow and
# jax stay within 5e-6 of the reference over 12-100 steps. 1e-3 leaves room for longer float32 drift,
# while a learning rate, clipping or loss that differs moves the curve by 1e-2 or more within a few
# steps (tests/plugins/learns_differently.py, a doubled learning rate, is flagged after 3).
EQUIVALENCE_TOLERANCE = 1e-3
_FLOOR = 1e-12  # a loss of exactly zero is compared absolutely


def max_rel_gap(losses: Sequence[float | None], reference: Sequence[float | None]) -> float | None:
    """The largest |loss - reference| / |reference| over the steps both curves have; None if none.

    None is a step without a loss (a backend that cannot report it; records store a non-finite
    loss as None too, and such a run's status already says it diverged); a non-finite float
    where the reference is finite is an infinite gap.
    """
    pairs = [(float(a), float(b)) for a, b in zip(losses, reference, strict=False)  # type: ignore[arg-type]
             if _number(a) and _number(b)]
    gaps = [abs(a - b) / max(abs(b), _FLOOR) for a, b in pairs]
    broken = [a for a, b in zip(losses, reference, strict=False)
              if _number(b) and isinstance(a, float) and not math.isfinite(a)]
    if broken:  # a curve that went non-finite where the reference did not
        return math.inf
    return max(gaps) if gaps else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def reference_key(row: pd.Series) -> tuple[Any, Any, Any]:
    """Rows that trained the same work from the same seed: the same workload fingerprint and seed."""
    record = row["record"] if isinstance(row.get("record"), dict) else {}
    return row.get("workload"), (record.get("config") or {}).get("seed"), row.get("run_id")


def add_equivalence(frame: pd.DataFrame) -> pd.DataFrame:
    """``equivalence_max_rel_gap`` and ``equivalence_ok`` for every accuracy row with a per-step curve.

    The reference's own rows, and rows without a per-step curve or without a
    reference curve of the same workload and seed (preferably from the same
    run), are left NaN / None.
    """
    frame = frame.copy()
    frame["equivalence_max_rel_gap"] = math.nan
    frame["equivalence_ok"] = None
    if frame.empty or "step_losses" not in frame:
        return frame
    curves = frame[(frame["mode"] == "accuracy") & (frame.status == "ok") & frame.step_losses.map(_has_curve)]
    same_run = {reference_key(r): r.step_losses for _, r in curves[curves.backend == REFERENCE_BACKEND].iterrows()}
    any_run = {key[:2]: losses for key, losses in same_run.items()}
    for index, row in curves[curves.backend != REFERENCE_BACKEND].iterrows():
        key = reference_key(row)
        reference = same_run.get(key, any_run.get(key[:2]))
        gap = None if reference is None else max_rel_gap(row.step_losses, reference)
        if gap is not None:
            frame.at[index, "equivalence_max_rel_gap"] = gap
            frame.at[index, "equivalence_ok"] = bool(gap <= EQUIVALENCE_TOLERANCE)
    return frame


def _has_curve(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0
