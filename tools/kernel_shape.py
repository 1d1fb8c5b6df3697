"""The LSTM kernel shape against the machine: each implementation's training step as a share of the SGEMM peak.

    python tools/kernel_shape.py [--backend NAME ...] [--threads N] [--rounds N]

The shape of issue 15: one LSTM layer, input width = hidden size = 512,
batch 64, 50 steps, a regression head; one training step (forward,
backward, Adam update) timed with the run's protocol (blocks-v2) on the
same pre-drawn weights and batch for every backend. GFLOP/s counts the
cell's and head's matmul FLOPs (``rnnbench.flops``); the peak is NumPy's
float32 ``A @ B`` on the same threads (``rnnbench.manager.machine``),
measured right before each round. Each backend runs in a process of its own,
so no framework's thread pool sits beside another's, in an order that
alternates from round to round; the share printed is the median over the
rounds, with its range, since one round on a shared VM moves by 10 points.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from rnnbench.flops import train_step_flops
from rnnbench.params import init_params
from rnnbench.spec import ModelSpec, OptimizerSpec

SPEC = ModelSpec("lstm", hidden_size=512, head="regress", output_size=1, input_features=512, dtype="float32")
BATCH, STEPS = 64, 50
ADAM = OptimizerSpec("adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=None)


def measure(backend_name: str, threads: int) -> list[dict[str, object]]:
    """Every implementation of one backend on the CPU: median seconds per step, GFLOP/s."""
    from rnnbench.backend import ParitySettings
    from rnnbench.plugins.registry import Registry
    from rnnbench.worker.parity import pin_process
    from rnnbench.worker.timing import TimingProtocol, run_protocol

    pin_process(ParitySettings(threads, False))
    registry = Registry()
    backend = registry.available_backend(backend_name)
    backend.configure(ParitySettings(threads, False))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, STEPS, 512), dtype=np.float32)  # (B, T, F)
    y = rng.standard_normal((BATCH, 1), dtype=np.float32)  # (B, 1)
    rows = []
    for implementation in [i.name for i in backend.implementations() if i.runs_on("cpu")]:
        backend.use_implementation(implementation)
        model = backend.build(SPEC, init_params(SPEC, 0), ADAM, "cpu")
        timings = run_protocol(lambda model=model: model.train_step(x, y), model.synchronize,
                               TimingProtocol(warmup=3, steps=10))
        median = float(np.median(timings.samples))
        rows.append({"backend": backend_name, "implementation": implementation, "step_s": median,
                     "gflops": train_step_flops(SPEC, BATCH, STEPS) / median / 1e9,
                     "kernel_path": model.runtime_info().kernel_path})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with its own peak [default: 3]")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: measure this backend, print JSON
    args = parser.parse_args()
    from rnnbench.worker.parity import usable_cpus

    threads = args.threads or len(usable_cpus())
    if args.one:
        print(json.dumps(measure(args.one, threads)))
        return 0
    from rnnbench.manager.machine import matmul_peak_gflops

    names = args.backend or ["numpy", "torch", "tensorflow", "jax"]
    shares: dict[tuple[str, str], list[float]] = {}
    steps: dict[tuple[str, str], list[float]] = {}
    paths: dict[tuple[str, str], str] = {}
    peaks = []
    for round_ in range(args.rounds):
        peak = matmul_peak_gflops(threads)["best"]  # each round's share is of the peak measured just before it
        peaks.append(peak)
        for name in names if round_ % 2 == 0 else names[::-1]:  # alternating, so a drift hits every backend
            done = subprocess.run([sys.executable, __file__, "--one", name, "--threads", str(threads)],
                                  capture_output=True, text=True, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
            if done.returncode != 0:
                print(f"{name}: failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
                continue
            for row in json.loads(done.stdout.strip().splitlines()[-1]):
                key = (str(row["backend"]), str(row["implementation"]))
                shares.setdefault(key, []).append(float(row["gflops"]) / peak)
                steps.setdefault(key, []).append(float(row["step_s"]))
                paths[key] = str(row["kernel_path"])
    print(f"SGEMM peak (numpy float32 A @ B, {threads} threads), per round: "
          + ", ".join(f"{p:.1f}" for p in peaks) + " GFLOP/s")
    print(f"{'backend':<11} {'impl':<9} {'ms/step':>8}  share of peak: median [min, max] over {args.rounds} rounds")
    for key in sorted(shares, key=lambda k: (names.index(k[0]), k[1])):
        share = np.asarray(shares[key])
        print(f"{key[0]:<11} {key[1]:<9} {np.median(steps[key]) * 1e3:8.1f}  {np.median(share):4.0%} "
              f"[{share.min():.0%}, {share.max():.0%}]  ({paths[key]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
