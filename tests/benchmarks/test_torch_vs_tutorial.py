"""The torch backend's train_step against the loop the PyTorch tutorials teach, on every task shape and cell.

Run with ``pytest tests/benchmarks/test_torch_vs_tutorial.py --benchmark-only -s``
(``-m "not slow"`` leaves out char_rnn, the 512-wide kernel shape and "compiled",
whose inductor compile of the unrolled steps takes minutes on a small CPU).
Each benchmark times one implementation of the backend (pytest-benchmark,
pedantic mode) and, in the same run and interleaved round by round
(rnnbench/testing/tutorial.py), the tutorial loop on the same weights and
batch. The tutorial is the PyTorch examples' model and loop (the
word_language_model example for the lm head): ``nn.Embedding`` (token
input), one ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with ``num_layers`` and
``batch_first=True``, ``nn.Linear`` on every step (lm) or the last one;
``nn.CrossEntropyLoss`` over the flattened steps, ``nn.BCEWithLogitsLoss``
or ``nn.MSELoss``; ``zero_grad()``, ``backward()``, ``clip_grad_norm_`` with
the task's clip norm where it has one, and ``step()`` of ``torch.optim.Adam``
or ``RMSprop`` with the task's hyperparameters, in torch's default
implementation (for-each on a GPU, a for-loop on the CPU; the backend
takes the fused kernel where torch has one). Those modules are the ModelSpec's cells exactly
(gate order i,f,g,o and r,z,n, b_hn inside r * (...), two biases), so the
weights load by the backend's own renaming (layout.py) and both sides
compute the same function, which ``test_first_loss_matches_backend``
checks on tiny shapes. The ratio of medians (backend / tutorial) goes to
extra_info; with RNNBENCH_MAX_TUTORIAL_RATIO=1.05 the default
implementation's ratio is asserted.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from rnnbench.backend import ParitySettings  # noqa: E402
from rnnbench.backends.torch_backend import TorchBackend  # noqa: E402
from rnnbench.backends.torch_backend.layout import load_canonical  # noqa: E402
from rnnbench.params import Params, init_params  # noqa: E402
from rnnbench.spec import ModelSpec, OptimizerSpec  # noqa: E402
from rnnbench.testing.tutorial import (  # noqa: E402
    LOSS_CHECK_SHAPES,
    SHAPES,
    batch,
    cases,
    check_ratio,
    interleave,
    record,
    tiny,
)

WARMUP_ROUNDS = 3
ROUNDS = 10
RNN_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# Inductor ("compiled") imports torch.utils.mkldnn, which warns about its own use of torch.jit.script_method.
COMPILE_WARNING = "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"


class TutorialNet(nn.Module):
    """The model as the PyTorch tutorials write it (attribute names as RnnNet's, so layout.py loads it)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.embed = nn.Embedding(spec.vocab_size, spec.embedding_dim) if spec.embedded else None
        self.rnn = RNN_MODULES[spec.cell](spec.layer_input_size(0), spec.hidden_size, num_layers=spec.num_layers,
                                          batch_first=True)
        self.head = nn.Linear(spec.hidden_size, spec.output_size)
        self.every_step = spec.head == "lm"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)  # (B, T, E)
        out, _ = self.rnn(x)  # (B, T, H)
        if self.every_step:
            return self.head(out)  # (B, T, V)
        return self.head(out[:, -1, :])  # (B, O)


def tutorial_loss(spec: ModelSpec) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if spec.head == "lm":
        criterion = nn.CrossEntropyLoss()
        return lambda out, y: criterion(out.view(-1, spec.output_size), y.view(-1))  # (B*T, V), (B*T,)
    return nn.BCEWithLogitsLoss() if spec.head == "classify" else nn.MSELoss()


def tutorial_optimizer(parameters: list[nn.Parameter], opt: OptimizerSpec) -> torch.optim.Optimizer:
    if opt.name == "adam":
        return torch.optim.Adam(parameters, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps)
    if opt.name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=opt.lr, alpha=opt.rho, eps=opt.eps)
    return torch.optim.SGD(parameters, lr=opt.lr, momentum=opt.momentum)


def tutorial_step(spec: ModelSpec, params: Params, opt: OptimizerSpec,
                  device: str) -> Callable[[np.ndarray, np.ndarray], torch.Tensor]:
    """One step of the tutorial's training loop, on the same weights as the backend; returns the loss."""
    torch_device = torch.device("cpu" if device == "cpu" else "cuda:" + device.split(":")[1])
    model = TutorialNet(spec).to(torch_device)
    load_canonical(model, spec, params)  # type: ignore[arg-type]
    criterion = tutorial_loss(spec)
    optimizer = tutorial_optimizer(list(model.parameters()), opt)

    def step(xb: np.ndarray, yb: np.ndarray) -> torch.Tensor:
        x, y = torch.from_numpy(xb).to(torch_device), torch.from_numpy(yb).to(torch_device)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        if opt.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), opt.clip_norm)
        optimizer.step()
        return loss.detach()

    return step


@pytest.mark.filterwarnings(COMPILE_WARNING)
@pytest.mark.parametrize(("shape_name", "implementation", "device"),
                         cases(TorchBackend(), TorchBackend().devices()[:2], slow_implementations=("compiled",)))
def test_torch_vs_tutorial(benchmark, shape_name: str, implementation: str, device: str) -> None:  # type: ignore[no-untyped-def]
    shape = SHAPES[shape_name]
    backend = TorchBackend()
    applied = backend.configure(ParitySettings(threads=len(os.sched_getaffinity(0))))
    backend.use_implementation(implementation)
    params = init_params(shape.spec, seed=0)
    model = backend.build(shape.spec, params, shape.optimizer, device=device)
    tutorial = tutorial_step(shape.spec, params, shape.optimizer, device)
    x, y = batch(shape)

    def backend_step() -> None:
        model.train_step(x, y)
        model.synchronize()

    benchmark.group = f"torch {shape_name} {device}"
    benchmark.extra_info.update(shape=shape_name, device=device, batch=shape.batch, steps=shape.steps)
    times = interleave(benchmark, backend_step, lambda: tutorial(x, y), rounds=ROUNDS, warmup=WARMUP_ROUNDS,
                       barrier=model.synchronize)
    if times is None:
        return
    default = implementation == backend.default_implementation(device, shape.spec)
    ratio = record(benchmark, times, implementation=implementation, default=default)
    info = model.runtime_info()
    benchmark.extra_info.update(kernel_path=info.kernel_path, threads=applied["threads"],
                                optimizer=info.settings["optimizer"])
    print(f"\n{shape_name} {implementation} on {device}: backend {times.timed_median * 1e3:.1f} ms, "
          f"tutorial {times.other_median * 1e3:.1f} ms, ratio {ratio:.3f} "
          f"(of minima {benchmark.extra_info['ratio_of_minima']:.3f})")
    check_ratio(ratio, default=default)


@pytest.mark.parametrize("shape_name", LOSS_CHECK_SHAPES)
def test_first_loss_matches_backend(shape_name: str) -> None:
    """The tutorial's first-step loss is the backend's on the same weights and batch: the same function."""
    shape = tiny(SHAPES[shape_name])
    params = init_params(shape.spec, seed=0)
    x, y = batch(shape)
    model = TorchBackend().build(shape.spec, params, shape.optimizer)
    model.train_step(x, y)
    tutorial = tutorial_step(shape.spec, params, shape.optimizer, "cpu")
    assert tutorial(x, y).item() == pytest.approx(model.last_loss(), rel=1e-4)
