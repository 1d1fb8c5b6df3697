"""Conformance: proof that a backend computes the reference function.

For the NumPy reference itself, analytic gradients are checked against
central finite differences in float64. Every other backend is checked
against the NumPy reference: from identical canonical parameters and batch,
the outputs, the loss, every gradient, and the parameters after one step of
each optimiser must agree within the tolerance of the dtype. The streaming
step (``InferenceModel.step``) is checked step by step: from the zero state,
T steps of the batch, each step's output and every carried state (hidden,
and cell for an LSTM) against the reference's step; the reference's own step
is checked against its whole-sequence output. A backend that does not train
(``Backend.trains`` False), or an export path of one that does
(``Implementation.trains`` False), is checked on its outputs and steps only; a model
without a step is checked on whole sequences, and the report says so.

Errors are elementwise: ``rel = |a - b| / max(|b|, floor)``, so entries
near zero are judged by the absolute floor instead of blowing up.

A backend with several implementations (``Backend.implementations``) is
checked one implementation at a time; every comparison names the
implementation that computed it, and with none chosen each case is computed
by the backend's default for that case.

Backend code that raises during the check (``SystemExit`` included) fails
that backend's report in one line (``Report.error``: the case, the exception
and, through ``run_check``, the plugin and how to block it); the comparisons
before it are kept and the other backends are still checked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from rnnbench.backend import Backend, InferenceModel, Model, has_streaming_step
from rnnbench.errors import UsageError
from rnnbench.kit import parse_device
from rnnbench.params import Params, check_state, init_params, zero_state
from rnnbench.plugins.guard import describe_exception, fault_message
from rnnbench.plugins.registry import Registry
from rnnbench.spec import CELLS, HEADS, ModelSpec, OptimizerSpec, precision_fields

# Largest accepted relative error, and the magnitude below which entries are
# compared absolutely (the "absolute floor"), per dtype.
# Reduced precisions against the float32 reference, each array as a whole (its L2 error over its L2 norm).
# bfloat16 keeps 8 significant bits, so every element is off by up to 2^-9 and one near zero can be off by
# all of itself. Measured over every case of every CPU implementation of torch, tensorflow and jax
# (2026-12-01): output <= 0.008, loss <= 0.0033, gradients <= 0.015, an SGD step <= 0.0018; the tolerance
# is about 3x the worst. TF32 rounds only the matmuls' inputs, to 11 significant bits (2^-11 each, 4x finer
# than bfloat16) and accumulates in float32, so its tolerance is bfloat16's over 5. A wrong gate, bias or
# layer is off by O(1).
NORMWISE_TOLERANCE = {"mixed_bfloat16": 5e-2, "mixed_float16": 5e-2, "tf32": 1e-2}
NORMWISE_FLOOR = {"mixed_bfloat16": 5e-2, "mixed_float16": 5e-2, "tf32": 1e-2}
TOLERANCE = {"float64": 1e-6, "float32": 1e-4, **NORMWISE_TOLERANCE}
FLOOR = {"float64": 1e-3, "float32": 1e-2, **NORMWISE_FLOOR}
# float32 on a GPU: cuDNN's fused RNN kernels are float32 without TF32 (checked: TF32 on is 30-100x worse)
# but do not keep the sequential error of a step loop. Measured on an H200 with cuDNN 9.19 and torch 2.11
# (2026-12-04, tools/gpu-check.sh): outputs off the float64 reference by up to 2.8e-4 for RNN, 5.9e-5 for
# GRU and 2.9e-5 for LSTM, where torch's own CUDA kernels stay under 1.2e-5; Adam and RMSprop steps, which
# divide each gradient entry by its own scale, by up to 7.7e-4. The tolerance is about 3x the worst; a wrong
# gate, bias or layer is still off by O(1).
GPU_TOLERANCE = {"float32": 2e-3}
FD_STEP = 1e-3  # five-point central-difference step for the float64 gradient check

# One optimiser of each kind, with clipping low enough to be active.
OPTIMIZERS = (
    OptimizerSpec("adam", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=0.5),
    OptimizerSpec("rmsprop", lr=1e-2, rho=0.9, eps=1e-8, clip_norm=0.5),
    OptimizerSpec("sgd", lr=0.1, momentum=0.9, clip_norm=0.5),
)
# Reduced precisions step with SGD only: Adam and RMSprop divide each gradient entry by its own scale, so
# the rounding of an entry near zero flips a whole lr-sized update. Their update rules are the float32 code
# path, checked in float32; the reduced step checks that the float32 master weights take it.
REDUCED_OPTIMIZERS = (OPTIMIZERS[2],)


@dataclass(frozen=True)
class Case:
    """One network shape to check, and its input kind."""

    cell: str
    head: str
    num_layers: int
    dtype: str

    @property
    def label(self) -> str:
        return f"{self.cell}-{self.head}-L{self.num_layers}-{self.dtype}"

    def spec(self) -> ModelSpec:
        # Token input for lm and classify, dense input for regress: both input paths are covered.
        if self.head == "regress":
            inputs: dict = {"input_features": 3}
            output = 2
        else:
            inputs = {"vocab_size": 11, "embedding_dim": 4}
            output = 11 if self.head == "lm" else 2
        return ModelSpec(self.cell, hidden_size=5, head=self.head, output_size=output,  # type: ignore[arg-type]
                         num_layers=self.num_layers, **precision_fields(self.dtype), **inputs)  # type: ignore[arg-type]


Shape = tuple[str, str, int]  # (cell, head, layers): which cases of the check a run needs


def cases(dtypes: tuple[str, ...] = ("float64", "float32"), shapes: Collection[Shape] | None = None) -> list[Case]:
    """3 cells x 3 heads x 1-2 layers for each dtype; only those in ``shapes`` when it is given."""
    every = [Case(c, h, n, d) for d in dtypes for c in CELLS for h in HEADS for n in (1, 2)]
    return every if shapes is None else [c for c in every if (c.cell, c.head, c.num_layers) in shapes]


def shape_of(cell: str, head: str, num_layers: int) -> Shape:
    """The check's case for a network: its cell and head, one layer or stacked (2 stands for 2 and more)."""
    return cell, head, min(num_layers, 2)


def batch(spec: ModelSpec, seed: int = 0, size: int = 3, steps: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A seeded batch (x, y) in the batch-first layout of ``spec``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    if spec.embedded:
        x = rng.integers(0, spec.vocab_size, (size, steps))  # type: ignore[arg-type]
    else:
        x = rng.standard_normal((size, steps, spec.input_features)).astype(spec.dtype)  # type: ignore[arg-type]
    if spec.head == "lm":
        y = rng.integers(0, spec.output_size, (size, steps))
    elif spec.head == "classify":
        y = rng.integers(0, 2, (size, spec.output_size)).astype(spec.dtype)
    else:
        y = rng.standard_normal((size, spec.output_size)).astype(spec.dtype)
    return x, y


@dataclass(frozen=True)
class Comparison:
    """The largest errors of one quantity of one case."""

    case: str
    quantity: str  # "output", "loss", "grad", "adam step", ...
    max_abs: float
    max_rel: float
    worst: str  # the parameter (or array) holding the largest relative error
    tolerance: float
    floor: float
    implementation: str = ""  # the backend's implementation that computed it

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_rel)) and self.max_rel <= self.tolerance


RAISED = "raised"  # the quantity of a case whose computation raised (Report.fail)


@dataclass
class Report:
    """Every comparison of a conformance run."""

    backend: str
    reference: str  # "finite differences" or "numpy"
    comparisons: list[Comparison] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what could not be checked, and why
    implementation: str | None = None  # the implementation checked; None: each case's default
    error: str | None = None  # one line: the backend's code raised, so the check stopped there

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.comparisons) and all(c.ok for c in self.comparisons)

    def fail(self, case: Case, exc: BaseException) -> None:
        """Backend code raised in ``case``: the report fails with one line, and with a comparison ("raised",
        infinite error) so whoever counts failing comparisons counts it too."""
        self.error = f"case {case.label}: {describe_exception(exc)}"
        self.comparisons.append(Comparison(case.label, RAISED, np.inf, np.inf, describe_exception(exc),
                                           TOLERANCE[case.dtype], FLOOR[case.dtype]))

    @property
    def implementations(self) -> list[str]:
        """The implementations that computed the comparisons, in order of first use."""
        return list(dict.fromkeys(c.implementation for c in self.comparisons if c.implementation))

    @property
    def implementation_label(self) -> str:
        """What was checked, for a title: "loop", or "default (graph, xla)" when none was chosen."""
        if self.implementation is not None:
            return self.implementation
        return f"default ({', '.join(self.implementations) or 'none'})"

    def worst_per_quantity(self) -> list[Comparison]:
        """For each quantity and dtype, the comparison with the largest relative error."""
        worst: dict[tuple[str, str], Comparison] = {}
        for c in self.comparisons:
            key = (c.quantity, c.case.rsplit("-", 1)[-1])
            if key not in worst or not c.max_rel <= worst[key].max_rel:
                worst[key] = c
        return list(worst.values())

    def to_dict(self) -> dict:
        return {"backend": self.backend, "implementation": self.implementation,
                "implementations": self.implementations, "reference": self.reference, "ok": self.ok,
                "error": self.error,
                "skipped": self.skipped, "comparisons": [asdict(c) | {"ok": c.ok} for c in self.comparisons]}


def tolerance(dtype: str, device: str = "cpu") -> float:
    """The largest accepted relative error of ``dtype`` computed on ``device``."""
    on_gpu = parse_device(device)[0] == "gpu"
    return GPU_TOLERANCE.get(dtype, TOLERANCE[dtype]) if on_gpu else TOLERANCE[dtype]


def compare(case: Case, quantity: str, got: dict[str, np.ndarray], want: dict[str, np.ndarray],
            device: str = "cpu") -> Comparison:
    """Elementwise errors of ``got`` against ``want`` over every named array."""
    floor, tol = FLOOR[case.dtype], tolerance(case.dtype, device)
    max_abs, max_rel, worst = 0.0, 0.0, ""
    for name, reference in want.items():
        a = np.asarray(got[name], dtype=np.float64)
        b = np.asarray(reference, dtype=np.float64)
        if a.shape != b.shape:
            return Comparison(case.label, quantity, np.inf, np.inf, f"{name}: shape {a.shape} != {b.shape}", tol, floor)
        diff = np.abs(a - b)
        if case.dtype in NORMWISE_TOLERANCE:  # the array as a whole: its L2 error over its L2 norm
            rel = np.atleast_1d(np.linalg.norm(diff) / max(float(np.linalg.norm(b)), floor))
        else:
            rel = diff / np.maximum(np.abs(b), floor)
        worst_here = float(np.max(rel, initial=0.0)) if np.all(np.isfinite(rel)) else np.inf
        max_abs = max(max_abs, float(np.max(diff, initial=0.0)))
        if not worst_here <= max_rel:
            max_rel, worst = worst_here, name
    return Comparison(case.label, quantity, max_abs, max_rel, worst, tol, floor)


def finite_difference_grads(loss: Callable[[Params], float], params: Params, step: float = FD_STEP) -> Params:
    """Five-point central differences of ``loss`` for every parameter element.

    The stencil's error is O(step^4), so a step of 1e-3 keeps both the
    truncation and the float64 rounding error near 1e-12.
    """
    grads: Params = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            original = value[index]
            at = []
            for offset in (2.0, 1.0, -1.0, -2.0):
                value[index] = original + offset * step
                at.append(loss(params))
            value[index] = original
            grad[index] = (-at[0] + 8 * at[1] - 8 * at[2] + at[3]) / (12 * step)
        grads[name] = grad
    return grads


def check_reference(reference: Backend, seed: int = 0, implementation: str | None = None) -> Report:
    """The NumPy reference's analytic gradients against finite differences, float64.

    ``implementation`` is chosen on ``reference`` first (None keeps its choice).
    """
    if implementation is not None:
        reference.use_implementation(implementation)
    report = Report(reference.name, "finite differences", implementation=implementation)
    _check_each(report, cases(("float64",)), lambda case: check_reference_case(reference, case, seed))
    return report


def _check_each(report: Report, checked: list[Case], comparisons: Callable[[Case], Iterable[Comparison]]) -> None:
    """Each case's comparisons into ``report``, until the backend's code raises in one (``Report.fail``)."""
    for case in checked:
        try:
            report.comparisons.extend(comparisons(case))
        except UsageError:  # a refusal the contract provides for (tf32 on a CPU): one line, exit 2
            raise
        except (Exception, SystemExit) as exc:  # the backend's code raised: its report fails in one line
            report.fail(case, exc)
            break


def check_reference_case(reference: Backend, case: Case, seed: int = 0) -> list[Comparison]:
    """One case of the reference check: analytic gradients against finite differences, and its streaming
    step against its own whole-sequence output."""
    spec = case.spec()
    x, y = batch(spec, seed)
    params = init_params(spec, seed)
    model = reference.build(spec, params, OPTIMIZERS[2])
    assert isinstance(model, Model), "the reference trains"
    sequence = {"output": model.predict(x)}
    streamed = {"output": stepped_output(spec, streamed_steps(model, spec, x)[0])}
    _, analytic = model.loss_and_grads(x, y)

    def loss(p: Params) -> float:
        model.set_params(p)
        return model.loss_and_grads(x, y)[0]

    implementation = reference.implementation_for("cpu", spec)
    return [replace(compare(case, "grad", analytic, finite_difference_grads(loss, params)),
                    implementation=implementation),
            replace(compare(case, STEP_VS_SEQUENCE, streamed, sequence), implementation=implementation)]


STREAMING = "streaming step"  # the quantity of the step-by-step comparison, outputs and states
STEP_VS_SEQUENCE = "step vs sequence"  # the reference's steps against its own whole-sequence output


def streamed_steps(model: InferenceModel, spec: ModelSpec, x: np.ndarray
                   ) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
    """Each step's output and state over the T steps of ``x`` (batch-first), from the zero state; SpecError
    where a step returns a state of another layout (the core checks the state, never the step itself)."""
    outputs, states, state = [], [], zero_state(spec, len(x))
    for t in range(x.shape[1]):
        output, state = model.step(x[:, t], state)
        check_state(spec, state, len(x))
        outputs.append(np.asarray(output))
        states.append({name: np.asarray(value) for name, value in state.items()})
    return outputs, states


def stepped_output(spec: ModelSpec, outputs: list[np.ndarray]) -> np.ndarray:
    """What ``predict`` gives, from the outputs of T steps: all of them (B, T, O) for lm, the last otherwise."""
    return np.stack(outputs, axis=1) if spec.head == "lm" else outputs[-1]


def step_comparison(case: Case, got: InferenceModel, want: InferenceModel, spec: ModelSpec, x: np.ndarray,
                    device: str) -> Comparison:
    """The streaming step, step by step: every step's output and carried state, backend against reference."""
    def named(model: InferenceModel, model_spec: ModelSpec) -> dict[str, np.ndarray]:
        outputs, states = streamed_steps(model, model_spec, x)
        arrays = {f"t{t} output": out for t, out in enumerate(outputs)}
        return arrays | {f"t{t} {name}": value for t, state in enumerate(states) for name, value in state.items()}
    return compare(case, STREAMING, named(got, spec), named(want, spec.full_precision()), device)


def check_backend(backend: Backend, reference: Backend, dtypes: tuple[str, ...] = ("float64", "float32"),
                  device: str = "cpu", seed: int = 0, implementation: str | None = None,
                  shapes: Collection[Shape] | None = None) -> Report:
    """``backend`` against ``reference`` on every case of the given dtypes.

    ``implementation`` is chosen on ``backend`` first (UsageError for an
    unknown name or one that does not run on ``device``); None keeps the
    backend's choice, the default per case unless one was chosen before.
    """
    if implementation is not None:
        backend.use_implementation(implementation)
        backend.checked_implementation(device)
    report = Report(backend.name, reference.name, implementation=implementation)
    supported = backend.dtypes
    for dtype in dtypes:
        if dtype not in supported:
            report.skipped.append(f"{dtype}: {backend.name} supports only {', '.join(supported)}")
    _check_each(report, cases(tuple(d for d in dtypes if d in supported), shapes),
                lambda case: check_case(backend, reference, case, device, seed))
    if not backend.trains:
        report.skipped.append(f"loss, gradients and optimiser steps: backend {backend.name!r} does not train")
    elif not backend.trains_with(backend.implementation_for(device)):
        report.skipped.append(f"loss, gradients and optimiser steps: implementation {implementation!r} of backend "
                              f"{backend.name!r} does not train (an export path)")
    compared = {c.quantity for c in report.comparisons}
    if report.error is None and compared and STREAMING not in compared:
        report.skipped.append(f"{STREAMING}: the models of backend {backend.name!r} have none "
                              "(InferenceModel.step); checked on whole sequences only")
    return report


def check_case(backend: Backend, reference: Backend, case: Case, device: str = "cpu",
               seed: int = 0) -> Iterator[Comparison]:
    """Every comparison of one case: output, streaming step, loss, gradients, and the parameters after each
    optimiser (the output and the step alone for a backend that does not train).

    Each comparison names the implementation ``backend`` builds for the case.
    """
    spec = case.spec()
    implementation = backend.implementation_for(device, spec)
    for comparison in _case_comparisons(backend, reference, case, spec, device, seed):
        yield replace(comparison, implementation=implementation)


def _case_comparisons(backend: Backend, reference: Backend, case: Case, spec: ModelSpec, device: str,
                      seed: int) -> Iterator[Comparison]:
    x, y = batch(spec, seed)
    params = init_params(spec, seed)
    exact = spec.full_precision()  # reduced precisions are held to the float32 reference, within their tolerance
    optimizers = OPTIMIZERS if spec.precision == spec.dtype else REDUCED_OPTIMIZERS
    # Built with the first optimiser: output, loss and gradients take no step, so the same models then take
    # that optimiser's steps; each other optimiser needs a model of its own (a build per optimiser, no more).
    want = reference.build(exact, params, optimizers[0])
    got = backend.build(spec, params, optimizers[0], device=device)
    yield compare(case, "output", {"output": got.predict(x)}, {"output": want.predict(x)}, device)
    if has_streaming_step(got):
        yield step_comparison(case, got, want, spec, x, device)
    if not backend.trains_with(backend.implementation_for(device, spec), device, spec):
        return
    assert isinstance(got, Model) and isinstance(want, Model), "a backend that trains builds a Model"
    got_loss, got_grads = got.loss_and_grads(x, y)
    want_loss, want_grads = want.loss_and_grads(x, y)
    yield compare(case, "loss", {"loss": np.asarray(got_loss)}, {"loss": np.asarray(want_loss)}, device)
    yield compare(case, "grad", got_grads, want_grads, device)
    for n, optimizer in enumerate(optimizers):
        if n > 0:
            got = backend.build(spec, params, optimizer, device=device)
            want = reference.build(exact, params, optimizer)
        yield compare(case, f"{optimizer.name} step", *_after_step(got, want, x, y), device)


def _after_step(got: Model, want: Model, x: np.ndarray, y: np.ndarray) -> tuple[Params, Params]:
    """Parameters after two optimiser steps on the same batch, backend then reference.

    Two steps, not one, so the optimiser state (moments, momentum) is used too.
    """
    for model in (got, want):
        model.train_step(x, y)
        model.train_step(x, y)
        model.synchronize()
    return got.get_params(), want.get_params()


REFERENCE_BACKEND = "numpy"


def run_check(registry: Registry, name: str, dtypes: tuple[str, ...] = ("float64", "float32"),
              device: str = "cpu", implementation: str | None = None,
              shapes: Collection[Shape] | None = None) -> Report:
    """The conformance check of backend ``name``: finite differences for the reference, else the reference.

    ``implementation`` checks that implementation of the backend; None, the
    backend's default for each case. ``shapes`` limits the cases to those
    (cell, head, layers) (a run's pre-check: the networks it measures).
    """
    backend = registry.available_backend(name)
    if name == REFERENCE_BACKEND:
        report = check_reference(backend, implementation=implementation)
    else:
        reference = registry.available_backend(REFERENCE_BACKEND)  # a fresh instance: its default
        report = check_backend(backend, reference, dtypes, device, implementation=implementation, shapes=shapes)
    if report.error is not None:
        report.error = fault_message(registry.origin(name), f"the check of backend {name!r}", report.error)
    return report


ALL_IMPLEMENTATIONS = "all"


def implementations_to_check(backend: Backend, device: str, implementation: str | None) -> list[str | None]:
    """What ``rnnbench check --implementation`` checks: [None] (the defaults), [NAME], or for "all" the
    name of each implementation that runs on ``device``.

    An unknown name is a UsageError listing the accepted ones.
    """
    if implementation is None:
        return [None]
    if implementation == ALL_IMPLEMENTATIONS:
        return [i.name for i in backend.implementations() if i.runs_on(device)]
    return [backend.implementation(implementation).name]


def run_checks(registry: Registry, name: str, dtypes: tuple[str, ...] = ("float64", "float32"),
               device: str = "cpu", implementation: str | None = None) -> list[Report]:
    """One report per implementation ``implementations_to_check`` names, each from a fresh backend."""
    chosen = implementations_to_check(registry.available_backend(name), device, implementation)
    return [run_check(registry, name, dtypes, device, each) for each in chosen]
