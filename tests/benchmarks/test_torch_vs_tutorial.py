"""The torch backend's train_step against the loop the PyTorch tutorial teaches.

Run with ``pytest tests/benchmarks/test_torch_vs_tutorial.py --benchmark-only -s``.
Each test times the backend (pytest-benchmark, pedantic mode) and, in the
same run and interleaved round by round, the tutorial loop on an equivalent
nn.Module loaded with the same weights and fed the same batch: ``model(x)``,
the loss module, ``backward()``, ``clip_grad_norm_``, ``optimizer.step()``,
``optimizer.zero_grad()`` with torch.optim defaults except lr. The ratio of
medians (backend / tutorial) goes to extra_info; the acceptance criterion is
<= 1.05, asserted only where RNNBENCH_MAX_TUTORIAL_RATIO sets the bound,
because a shared machine is too noisy to fail on by default.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.torch_backend import TorchBackend  # noqa: E402
from rnnbench.params import Params, init_params  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402

WARMUP_ROUNDS = 3
ROUNDS = 10
LR = 1e-3
CLIP = 1.0  # both loops clip, as the PyTorch language-model example does


@dataclass(frozen=True)
class Shape:
    """One benchmark workload."""

    spec: ModelSpec
    batch: int  # B
    steps: int  # T


SHAPES: dict[str, Shape] = {
    # (a) dense LSTM, input = hidden = 512, a forecasting-style regression head
    "lstm512_dense": Shape(
        ModelSpec(cell="lstm", hidden_size=512, head="regress", output_size=1, input_features=512), 64, 50),
    # (b) IMDB-style: Embedding(10000, 32) -> LSTM(32) -> one sentiment logit
    "imdb_lstm32": Shape(
        ModelSpec(cell="lstm", hidden_size=32, head="classify", output_size=1, vocab_size=10000,
                  embedding_dim=32), 128, 500),
}


class TutorialNet(torch.nn.Module):
    """The model as the PyTorch tutorials write it."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(spec.vocab_size, spec.embedding_dim) if spec.embedded else None
        self.lstm = torch.nn.LSTM(spec.layer_input_size(0), spec.hidden_size, batch_first=True)
        self.fc = torch.nn.Linear(spec.hidden_size, spec.output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(x)  # (B, T, E)
        out, _ = self.lstm(x)  # (B, T, H)
        return self.fc(out[:, -1, :])  # (B, O)


def tutorial_step(spec: ModelSpec, params: Params, device: str) -> Callable[[np.ndarray, np.ndarray], None]:
    """One step of the tutorial's training loop, on the same weights as the backend."""
    model = TutorialNet(spec).to(device)
    state = {"fc.weight": params["head.w"], "fc.bias": params["head.b"]}
    state.update({f"lstm.{n}_l0": params[f"l0.{c}"] for n, c in
                  [("weight_ih", "w_ih"), ("weight_hh", "w_hh"), ("bias_ih", "b_ih"), ("bias_hh", "b_hh")]})
    if spec.embedded:
        state["embedding.weight"] = params["embedding"]
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    loss_fn = torch.nn.MSELoss() if spec.head == "regress" else torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step(xb: np.ndarray, yb: np.ndarray) -> None:
        x, y = torch.from_numpy(xb).to(device), torch.from_numpy(yb).to(device)
        pred = model(x)
        loss = loss_fn(pred, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        optimizer.zero_grad()

    return step


def batch(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    spec = shape.spec
    if spec.embedded:
        x = rng.integers(0, spec.vocab_size, (shape.batch, shape.steps))  # (B, T) int64
        y = (rng.random((shape.batch, spec.output_size)) > 0.5).astype(np.float32)  # (B, 1)
    else:
        x = rng.standard_normal((shape.batch, shape.steps, spec.input_features), np.float32)  # (B, T, F)
        y = rng.standard_normal((shape.batch, spec.output_size), dtype=np.float32)  # (B, 1)
    return x, y


def devices() -> list[str]:
    return ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else [])


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_torch_vs_tutorial(benchmark, shape_name: str, device: str) -> None:  # type: ignore[no-untyped-def]
    shape = SHAPES[shape_name]
    threads = len(os.sched_getaffinity(0))
    backend = TorchBackend()
    applied = backend.configure(ParitySettings(threads=threads))
    params = init_params(shape.spec, seed=0)
    model = backend.build(shape.spec, params, OptimizerSpec("adam", lr=LR, clip_norm=CLIP), device=device)
    tutorial = tutorial_step(shape.spec, params, device)
    x, y = batch(shape)
    tutorial_times: list[float] = []

    def time_tutorial() -> None:  # pytest-benchmark's untimed setup: runs before every round
        synchronize(device)
        start = time.perf_counter()
        tutorial(x, y)
        synchronize(device)
        tutorial_times.append(time.perf_counter() - start)

    def backend_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    benchmark.pedantic(backend_step, setup=time_tutorial, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS,
                       iterations=1)
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing to compare
        return
    tutorial_median = statistics.median(tutorial_times[WARMUP_ROUNDS:WARMUP_ROUNDS + ROUNDS])
    ratio = benchmark.stats.stats.median / tutorial_median
    tutorial_min = min(tutorial_times[WARMUP_ROUNDS:WARMUP_ROUNDS + ROUNDS])
    benchmark.extra_info.update({
        "tutorial_median_s": tutorial_median, "ratio_backend_over_tutorial": ratio,
        "ratio_of_minima": benchmark.stats.stats.min / tutorial_min,  # steadier on a noisy machine
        "kernel_path": model.runtime_info().kernel_path, "threads": applied["threads"],
        "optimizer": model.runtime_info().settings["optimizer"],
    })
    print(f"\n{shape_name} on {device}: backend {benchmark.stats.stats.median * 1e3:.1f} ms, "
          f"tutorial {tutorial_median * 1e3:.1f} ms, ratio {ratio:.3f} "
          f"(of minima {benchmark.extra_info['ratio_of_minima']:.3f})")
    bound = os.environ.get("RNNBENCH_MAX_TUTORIAL_RATIO")
    if bound is not None:
        assert ratio <= float(bound), f"backend/tutorial = {ratio:.3f} > {bound}"
