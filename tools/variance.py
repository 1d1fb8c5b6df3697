"""Where the variance of a timing lives, per backend: within a process, between processes, between runs.

    python tools/variance.py RUN_DIR [RUN_DIR ...] [--kind train|infer]

For the throughput records of the runs (several rounds each, so several
processes per case), per backend, the median over its cases of:

- within: the spread of the samples inside one process (IQR / median);
- between: the coefficient of variation of the processes' medians of a case
  within one run, and the slowest process over the fastest;
- runs: with two runs or more of the same cases, the coefficient of
  variation of the runs' medians (over time, minutes apart);
- first step: the first call of a case in its process (tracing and
  compilation), and a worker's seconds per case.

The figures in docs/measurement.md come from this script; it reads records
only, so it runs anywhere the result folders are.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from rnnbench.results.frame import load_results


def cv(values: pd.Series) -> float:
    """Coefficient of variation of positive values, from the spread of their logs (robust to one scale)."""
    logs = np.log(values.astype(float))
    return float(np.sqrt(np.exp(np.var(logs, ddof=1)) - 1)) if len(logs) > 1 else float("nan")


def per_case(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One row per (backend, case, run): spreads within and between its processes."""
    rows = []
    timed = frame[(frame["mode"] == "throughput") & (frame.status == "ok") & frame[f"{kind}_step_s"].notna()]
    for (backend, key, run), case in timed.groupby(["backend", "case_key", "run_id"]):
        medians = case[f"{kind}_step_s"].astype(float)
        within = [float(np.subtract(*np.percentile(s, [75, 25])) / np.median(s)) for s in case[f"{kind}_samples_s"]]
        rows.append({"backend": backend, "case_key": key, "run_id": run, "processes": len(case),
                     "median_s": float(medians.median()), "within": float(np.median(within)),
                     "between": cv(medians), "range": float(medians.max() / medians.min()),
                     "first_step_s": float(case[f"{kind}_first_step_s"].astype(float).median()),
                     "seconds": float(case.duration_s.astype(float).median())})
    return pd.DataFrame(rows)


def per_backend(cases: pd.DataFrame) -> pd.DataFrame:
    """The medians over each backend's cases, and the spread between runs of the same case."""
    runs = cases.groupby(["backend", "case_key"]).median_s.agg(cv).rename("runs").reset_index()
    table = cases.groupby("backend").agg(cases=("case_key", "nunique"), processes=("processes", "median"),
                                         within=("within", "median"), between=("between", "median"),
                                         worst_range=("range", "max"), first_step_s=("first_step_s", "median"),
                                         seconds=("seconds", "median"))
    return table.join(runs.groupby("backend").runs.median())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--kind", choices=("train", "infer"), default="train")
    args = parser.parse_args(argv)
    cases = per_case(load_results(args.runs), args.kind)
    if cases.empty:
        print("no throughput records with timings in these runs", file=sys.stderr)
        return 1
    table = per_backend(cases)
    percent = ["within", "between", "runs"]
    print(f"{args.kind} step, median over each backend's cases (spreads in %, first step and seconds in s):")
    print(table.assign(**{c: (100 * table[c]).round(1) for c in percent}).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
