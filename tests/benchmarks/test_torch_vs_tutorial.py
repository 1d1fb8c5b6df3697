"""The torch backend's train_step against the loop the PyTorch tutorial teaches.

Run with ``pytest tests/benchmarks/test_torch_vs_tutorial.py --benchmark-only -s``.
Each test times the backend (pytest-benchmark, pedantic mode) and, in the
same run and interleaved round by round (rnnbench/testing/tutorial.py), the
tutorial loop on an equivalent nn.Module loaded with the same weights and
fed the same batch: ``model(x)``, the loss module, ``backward()``,
``clip_grad_norm_``, ``optimizer.step()``, ``optimizer.zero_grad()`` with
torch.optim defaults except lr. The ratio of medians (backend / tutorial)
goes to extra_info; RNNBENCH_MAX_TUTORIAL_RATIO=1.05 asserts it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.torch_backend import TorchBackend  # noqa: E402
from rnnbench.params import Params, init_params  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402
from rnnbench.testing.tutorial import CLIP, LR, SHAPES, batch, check_ratio, interleave  # noqa: E402

WARMUP_ROUNDS = 3
ROUNDS = 10


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


def devices() -> list[str]:
    return ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_torch_vs_tutorial(benchmark, shape_name: str, device: str) -> None:  # type: ignore[no-untyped-def]
    shape = SHAPES[shape_name]
    backend = TorchBackend()
    applied = backend.configure(ParitySettings(threads=len(os.sched_getaffinity(0))))
    params = init_params(shape.spec, seed=0)
    model = backend.build(shape.spec, params, OptimizerSpec("adam", lr=LR, clip_norm=CLIP), device=device)
    tutorial = tutorial_step(shape.spec, params, device)
    x, y = batch(shape)

    def backend_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    times = interleave(benchmark, backend_step, lambda: tutorial(x, y), rounds=ROUNDS, warmup=WARMUP_ROUNDS,
                       barrier=model.synchronize)
    if times is None:
        return
    ratio = times.timed_median / times.other_median
    benchmark.extra_info.update({
        "tutorial_median_s": times.other_median, "ratio_backend_over_tutorial": ratio,
        "ratio_of_minima": times.timed_min / times.other_min,  # steadier on a noisy machine
        "kernel_path": model.runtime_info().kernel_path, "threads": applied["threads"],
        "optimizer": model.runtime_info().settings["optimizer"],
    })
    print(f"\n{shape_name} on {device}: backend {times.timed_median * 1e3:.1f} ms, "
          f"tutorial {times.other_median * 1e3:.1f} ms, ratio {ratio:.3f} "
          f"(of minima {benchmark.extra_info['ratio_of_minima']:.3f})")
    check_ratio(ratio)
