#!/usr/bin/env bash
# tools/gpu-check.sh: the one prepared GPU check of rnnbench (issue 15), for a machine with a CUDA GPU.
#
#   bash tools/gpu-check.sh [RESULTS_DIR]      (default: results-gpu)
#
# 1. the conformance check of every implementation of torch, jax and tensorflow that runs on gpu:0
#    (cuDNN-fused layers included), in float32, against the NumPy reference on the CPU, and of each
#    backend's default in tf32 (TensorFloat-32 matmuls, within the tolerance stated for it);
# 2. a short GPU matrix: each backend's default GPU implementation, the three tasks and cells,
#    throughput and memory (device-memory peaks), the smoke profile (a few minutes on one GPU);
#    then the LSTM cases again in tf32, so the report shows what TF32 buys beside float32;
# 3. the HTML report of each run, beside it (RESULTS_DIR/report.html, RESULTS_DIR/report-tf32.html).
#
# Without a GPU it prints one line and exits 0, so CI and laptops can run it. A backend whose GPU build
# is not installed (tensorflow is CPU-only in this project's constraints) is skipped with its reason.
# Under 8 minutes on one H200 is the aim: the matrix uses --profile smoke and no accuracy pass.
# GPU_CHECK_BUDGET_S (default 480) bounds the whole check: each step gets what is left of it, so a slow
# compiler cannot starve the steps after it; a step cut short is stopped with SIGTERM, which keeps every
# finished record (the run prints its resume line) and counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
RESULTS=${1:-results-gpu}
deadline=$((SECONDS + ${GPU_CHECK_BUDGET_S:-480}))

# within SHARE_PERCENT: run the command under a timeout of that share of the seconds left
within() {
    local share=$1; shift
    local left=$((deadline - SECONDS))
    if [ "$left" -le 5 ]; then
        echo "gpu-check: no time left for: $*"
        return 1
    fi
    timeout --signal=TERM --kill-after=20 $((left * share / 100)) "$@"
}

gpu_backends=$(TF_CPP_MIN_LOG_LEVEL=3 "$PYTHON" - 2>/dev/null <<'PY'
found = []
if True:  # each framework asked on its own: one missing or broken build does not hide the others
    try:
        import torch
        if torch.cuda.is_available():
            found.append("torch")
    except Exception:
        pass
    try:
        import jax
        if any(d.platform == "gpu" for d in jax.devices()):
            found.append("jax")
    except Exception:
        pass
    try:
        import tensorflow as tf
        if tf.config.list_physical_devices("GPU"):
            found.append("tensorflow")
    except Exception:
        pass
print(" ".join(found))
PY
) || gpu_backends=""
if [ -z "$gpu_backends" ]; then
    echo "gpu-check: no CUDA GPU is visible to torch, jax or tensorflow here; nothing to check"
    exit 0
fi
echo "gpu-check: GPU backends here: $gpu_backends"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

status=0
backend_flags=()
for backend in $gpu_backends; do
    backend_flags+=(--backend "$backend")
    echo "== rnnbench check --backend $backend --device gpu:0 --implementation all --dtype float32"
    within 25 rnnbench check --backend "$backend" --device gpu:0 --implementation all --dtype float32 || status=1
    echo "== rnnbench check --backend $backend --device gpu:0 --dtype tf32"
    within 15 rnnbench check --backend "$backend" --device gpu:0 --dtype tf32 || status=1
done

# The default implementations only: with every implementation (216 cases) the first H200 run (2026-12-04)
# finished 5 cases in the 120 s left to it; compiling is most of a GPU worker's life at the smoke shape.
echo "== rnnbench run: the GPU matrix (smoke profile, 3 rounds, throughput and memory, default implementations)"
within 75 rnnbench run "${backend_flags[@]}" --device gpu --profile smoke --rounds 3 \
    --mode throughput --mode memory --no-check --results-dir "$RESULTS" || status=1
latest=$(ls -d "$RESULTS"/*/ 2>/dev/null | sort | tail -n 1)
if [ -n "$latest" ]; then
    rnnbench report "$latest" -o "$RESULTS/report.html" || status=1
    rnnbench report "$latest" --format markdown | sed -n '1,/^## /p' || status=1
fi

echo "== rnnbench run: the LSTM cases in tf32 (TensorFloat-32 matmuls; reported apart from float32)"
within 90 rnnbench run "${backend_flags[@]}" --device gpu --cell lstm --dtype tf32 --profile smoke --rounds 3 \
    --mode throughput --no-check --results-dir "$RESULTS" || status=1
latest_tf32=$(ls -d "$RESULTS"/*/ 2>/dev/null | sort | tail -n 1)
if [ -n "$latest_tf32" ] && [ "$latest_tf32" != "$latest" ]; then
    rnnbench report "$latest_tf32" -o "$RESULTS/report-tf32.html" || status=1
    rnnbench report "$latest_tf32" --format markdown | sed -n '1,/^## /p' || status=1
fi
exit $status
