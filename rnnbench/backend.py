"""The interface every backend plugin implements, and the index of the whole contract.

A ``Backend`` is cheap to construct and never imports its framework until
``build`` (or ``devices``/``configure``) is called, so listing plugins stays
instant and works where the framework is missing. ``build`` returns a
``Model`` that owns the framework objects for one ModelSpec on one device.

What a backend must satisfy, and where each part is written down:

==========================  ==================================================
the methods                 ``Backend``, ``Model`` and ``InferenceModel`` below
the streaming step          ``InferenceModel.step``; its state's layout in
                            ``rnnbench.params`` (``zero_state``); the core
                            checks the inputs and the state it returns, so
                            a step checks nothing in its timed call
the network                 ``rnnbench.spec.ModelSpec``: cells, input, head
the parameter layout        ``rnnbench.params`` (canonical names, shapes and
                            gate order; PyTorch/cuDNN conventions)
the batch layout per head   ``ModelSpec``: x int (B, T) ids or (B, T, F)
                            floats; y int (B, T) for lm, floats (B, O) for
                            classify and regress; checked once per case by
                            ``rnnbench.kit.check_batch`` before any timing
the loss of each head       ``rnnbench.kit``: lm mean cross-entropy over B*T,
                            classify mean binary cross-entropy with logits
                            over B*O, regress mean squared error over B*O;
                            written as NumPy reference functions
the update rules            ``rnnbench.spec.OptimizerSpec`` (torch.optim's
                            Adam, RMSprop, SGD; global-norm clipping first,
                            ``rnnbench.kit.clip_coefficient``)
what "correct" means        ``rnnbench.conformance``: TOLERANCE and FLOOR per
                            dtype, against the NumPy reference
device names                below: "cpu" and "gpu:N", the same for every
                            backend; ``rnnbench.kit.parse_device`` reads them
the implementations         ``Implementation`` and ``Backend.implementations``
                            below: the ways one backend computes the same
                            ModelSpec, a default per device, each checked
==========================  ==================================================

Device names are one vocabulary for users and backends alike: ``cpu``, and
``gpu:N`` for the N-th GPU the framework sees. ``devices()`` lists them and
``build(device=...)`` accepts them; a backend maps them to its framework's
own names (torch's ``cuda:N``, jax's and TensorFlow's GPU devices). Users
may also write ``gpu`` (each backend's first GPU) or ``all`` in a run, and
PyTorch's spelling ``cuda:N``, which ``canonical_device`` turns into ``gpu:N``.

A backend may compute the same ModelSpec in several ways, its
*implementations* (torch's fused layer, a step loop, the loop under
``torch.compile``; TensorFlow in graph mode or with XLA ...). Each has a
name, a description and the device kinds it runs on; ``default_implementation``
says which one runs when none is chosen (per device kind, and per spec where
the backend has a rule), ``use_implementation`` chooses one for the next
``build``, and every one must pass ``rnnbench check``. A backend with one
way needs none of this: the base class lists a single ``default``.

When the core calls what (read from ``rnnbench.worker`` and
``rnnbench.conformance``). Each process makes its instances through the
plugin registry, which first checks the metadata once per backend and
process: ``available()``, ``implementations()``, ``default_implementation``
and ``default_rule`` per device kind, and ``versions()`` when available,
inside one guard that turns a raise (``SystemExit`` included) or a wrong type
into one line naming the plugin.

- A run's worker process (``python -m rnnbench.worker``), for each case it
  prepares: the check (its first case only), ``available()``, ``configure(settings)``,
  ``use_implementation(name or None)``, then ``build`` (throughput and
  memory modes; in accuracy mode ``rnnbench.train`` calls ``build``). So
  ``configure`` always runs before ``build`` in a worker; a process that
  serves several cases calls it again for each case it prepares, except a
  case that only changes the mode (throughput, then memory) and reuses the
  previous case's model, for which nothing is called again.
- ``devices()`` is never called in a worker. When a run asks for devices
  other than ``cpu``, the manager calls ``available()`` then ``devices()``
  in a probe subprocess of their own (``rnnbench.manager.probe``), without
  ``configure``.
- ``rnnbench check`` (and a run's conformance pre-check, a subprocess of its
  own before the cases) never calls ``configure`` or ``devices()``: after
  the check and ``available()`` it calls ``use_implementation`` (when an
  implementation is named) and ``build``, so its models run with the
  framework's defaults for threads and denormals plus whatever ``build``
  itself sets. It builds each case four times (outputs, loss and gradients
  on one model, then one model per optimiser), all in one process.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rnnbench.errors import PluginError, UsageError
from rnnbench.spec import GPU_ONLY_PRECISIONS

if TYPE_CHECKING:
    import numpy as np

    from rnnbench.params import Params, State
    from rnnbench.spec import ModelSpec, OptimizerSpec


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here; when not, why and how to fix it."""

    ok: bool
    reason: str = ""  # e.g. "the module 'jax' is not installed"
    install_hint: str = ""  # e.g. 'pip install "rnnbench[jax]"'

    def message(self, name: str) -> str:
        """One line for the user: the backend, why it cannot run, the fix."""
        if self.ok:
            return f"Backend {name!r} is available"
        hint = f"; install it with: {self.install_hint}" if self.install_hint else ""
        return f"Backend {name!r} is not available: {self.reason}{hint}"


def modules_availability(modules: tuple[str, ...], install_hint: str) -> Availability:
    """Ok when every module can be found, without importing any of them."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return Availability(False, f"the module {module!r} is not installed", install_hint)
    return Availability(True)


@dataclass(frozen=True)
class MemoryStats:
    """A framework's own device-memory counters, in bytes."""

    peak_bytes: int  # the highest allocation since the model was built
    current_bytes: int | None = None  # allocated now, where the framework says
    source: str = ""  # which counter, e.g. "torch.cuda.max_memory_allocated"


@dataclass(frozen=True)
class ParitySettings:
    """Settings applied the same way to every framework, recorded with each result."""

    threads: int  # CPU threads every framework may use (intra-op); CPU affinity is set by the core
    flush_denormals: bool = False  # True: flush float denormals to zero ("tuned"); False: framework default

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise UsageError(f"threads={self.threads!r} is not valid. Accepted: an integer >= 1")


@dataclass(frozen=True)
class RuntimeInfo:
    """What actually ran, recorded with every result."""

    kernel_path: str  # e.g. "numpy: BLAS matmul + hand-written BPTT"
    settings: dict[str, str] = field(default_factory=dict)  # threads, denormals, XLA ...


class InferenceModel(ABC):
    """One network on one device that computes outputs: what an inference-only backend builds
    (``Backend.trains`` False), and the part of ``Model`` that serving needs.

    ``x`` is a NumPy array in the batch-first layout of ModelSpec.
    """

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """The head's output (logits or values) as a NumPy array."""

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One time step of streaming inference, the state carried in and out.

        ``x`` is one step of B sequences: int (B,) token ids, or floats (B, F);
        ``state`` is in the canonical layout of ``rnnbench.params`` (``l{k}.h``,
        and ``l{k}.c`` for an LSTM, each (B, H); ``zero_state`` starts a
        sequence). Returns the head's output on the new top hidden state,
        (B, O) for every head (lm: the next token's logits; classify and
        regress: the prediction were the sequence to end here), and the new
        state, both NumPy arrays. T calls from the zero state give what
        ``predict`` gives for those T steps. The default has no step: a
        backend without one is checked and timed on whole sequences only.
        The core hands it only steps of a batch it checked and the states it
        returned, and checks those states (``check_state``) in conformance and
        once per latency case: a check here would be timed as its latency.
        """
        raise NotImplementedError(f"{type(self).__name__} has no streaming step (InferenceModel.step)")

    @abstractmethod
    def get_params(self) -> Params:
        """A copy of the current parameters in the canonical layout."""

    @abstractmethod
    def set_params(self, params: Params) -> None:
        """Load canonical parameters (and, for a model that trains, reset the optimiser state)."""

    def synchronize(self) -> None:  # noqa: B027 - a deliberate no-op default (host backends)
        """Wait until all queued device work is done (a no-op on the host)."""

    def device_memory(self) -> MemoryStats | None:
        """The framework's device-memory peak, or None off a GPU."""
        return None

    @abstractmethod
    def runtime_info(self) -> RuntimeInfo:
        """The kernel path and settings this model runs with."""


def has_streaming_step(model: InferenceModel) -> bool:
    """Whether ``model`` implements ``InferenceModel.step`` (the default has none and raises)."""
    return type(model).step is not InferenceModel.step


class Model(InferenceModel):
    """One network on one device that also trains, built by ``Backend.build`` of a backend that trains.

    ``x`` and ``y`` are NumPy arrays in the batch-first layout of ModelSpec.
    """

    @abstractmethod
    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One optimiser step. May return before the device finishes."""

    @abstractmethod
    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        """The loss and its gradient in the canonical layout; no update."""

    def last_loss(self) -> float | None:
        """The loss of the latest ``train_step`` (read back now, so not in a timed region)."""
        return None


CUDA_PREFIX = "cuda:"  # PyTorch's spelling of a GPU, accepted from users as gpu:N
DEVICE_KINDS = ("cpu", "gpu")  # what Implementation.devices may name


def canonical_device(name: str) -> str:
    """A user's device name in the contract's vocabulary: ``cuda:N`` becomes ``gpu:N``, the rest is kept."""
    text = name.strip().lower()
    return "gpu:" + text.removeprefix(CUDA_PREFIX) if text.startswith(CUDA_PREFIX) else text


def device_kind(device: str) -> str:
    """The kind of a device name: "cpu" for "cpu", "gpu" for "gpu", "gpu:N" and "cuda:N"."""
    return canonical_device(device).split(":", 1)[0]


IMPLEMENTATION_NAME = re.compile(r"[a-z0-9-]+")


@dataclass(frozen=True)
class Implementation:
    """One way a backend computes a ModelSpec; every implementation must pass ``rnnbench check``."""

    name: str  # e.g. "fused", "loop", "compiled": lower-case letters, digits and '-', not "all"
    description: str  # one line for `rnnbench plugins`
    devices: tuple[str, ...] = ("cpu", "gpu")  # device kinds it can run on; () where it cannot run here
    # False for an export path of a framework that trains (a saved, serialised and reloaded artifact):
    # its build returns an InferenceModel, and it is measured, checked and tuned as an inference runtime is.
    trains: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not IMPLEMENTATION_NAME.fullmatch(self.name) or self.name == "all":
            raise PluginError(f"implementation name {self.name!r} is not valid. Accepted: lower-case letters, "
                              "digits and '-', other than 'all'")
        if not isinstance(self.devices, tuple) or not set(self.devices) <= set(DEVICE_KINDS):
            raise PluginError(f"implementation {self.name!r} runs on devices={self.devices!r}. Accepted: a tuple "
                              f"of {', '.join(DEVICE_KINDS)}")
        if not isinstance(self.trains, bool):
            raise PluginError(f"implementation {self.name!r} has trains={self.trains!r}. Accepted: True or False")

    def runs_on(self, device: str) -> bool:
        """Whether this implementation can run on ``device`` ("cpu", "gpu:N", or a kind)."""
        return device_kind(device) in self.devices


def installed_versions(distributions: Iterable[str]) -> dict[str, str]:
    """The version of each installed distribution among ``distributions`` (metadata only, nothing imported)."""
    found: dict[str, str] = {}
    for name in distributions:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


class Backend(ABC):
    """A framework adapter, registered by a plugin through its class."""

    name: ClassVar[str]  # the backend's name on the command line, e.g. "torch"
    description: ClassVar[str] = ""  # one line for `rnnbench plugins`
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules the backend needs
    framework: ClassVar[str | None] = None  # distribution whose version is reported
    install_hint: ClassVar[str] = ""  # the command that makes it available
    # The precisions build accepts (rnnbench.spec.PRECISIONS): dtypes, and "mixed_bfloat16" where the
    # backend autocasts (ModelSpec.autocast); build refuses the others (check_precision).
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64")
    # False for an inference runtime: build returns an InferenceModel (no train_step, no gradients); a run
    # measures it in the throughput mode's inference half and the latency mode, and records its memory
    # and accuracy cases (which train) as skipped with the reason; the check compares outputs and states.
    trains: ClassVar[bool] = True
    _implementation: str | None = None  # set by use_implementation on the instance; None: the default

    def check_precision(self, spec: ModelSpec, device: str = "cpu") -> None:
        """UsageError unless this backend computes ``spec``'s precision on ``device`` (a plain float32 model
        handed a mixed-precision spec would otherwise compute float32 and be reported as mixed; TF32 on a
        CPU, which has no such matmul, would be float32 labelled tf32)."""
        if spec.precision not in self.dtypes:
            raise UsageError(f"Backend {self.name!r} does not compute {spec.precision}. "
                             f"Accepted: {', '.join(self.dtypes)}")
        if spec.precision in GPU_ONLY_PRECISIONS and not device.startswith("gpu"):
            raise UsageError(f"Precision {spec.precision!r} runs on GPUs only, not on {device!r}. "
                             "Accepted: a gpu:N device, or float32 on the CPU")

    def available(self) -> Availability:
        """Ok when every required module can be found; nothing is imported."""
        return modules_availability(self.requires, self.install_hint)

    def versions(self) -> dict[str, str]:
        """Installed versions of the frameworks this backend runs on, read from package metadata, never imported.

        The default gives the one distribution named in ``framework``; a backend built on several (flax on
        jax and optax) overrides this to declare them all, e.g. ``installed_versions(("flax", "jax", "optax"))``.
        Every result records them, after the plugin's own distribution and version.
        """
        return installed_versions(() if self.framework is None else (self.framework,))

    def devices(self) -> list[str]:
        """Devices this backend can place a model on, "cpu" first, then "gpu:0", "gpu:1", ..."""
        return ["cpu"]

    def flushes_denormals(self, device: str) -> bool:
        """Whether ``ParitySettings.flush_denormals`` changes what runs on ``device``: False where the
        framework has no switch or always flushes, so `tune` does not search a knob that is not there."""
        return True

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        """Apply ``settings`` through the framework's own working mechanism.

        Called by a run's worker before each case it prepares, so before that
        case's ``build`` (see the module docstring for the order); never by
        ``rnnbench check``. Returns what was applied, as strings, for the
        result record.
        """
        return {"threads": str(settings.threads), "flush_denormals": str(settings.flush_denormals)}

    @abstractmethod
    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        """A model computing ``spec`` from ``params``, trained by ``optimizer``: a ``Model`` where the backend
        trains, an ``InferenceModel`` (``optimizer`` unused) where it does not."""

    # ---- implementations -------------------------------------------------------------

    def implementations(self) -> tuple[Implementation, ...]:
        """The ways this backend can compute the same ModelSpec, the usual default first.

        Listing them never imports the framework.
        """
        return (Implementation("default", "the backend's only way"),)

    def implementation(self, name: str) -> Implementation:
        """The implementation called ``name``; UsageError listing the accepted names."""
        found = {i.name: i for i in self.implementations()}
        if name not in found:
            raise UsageError(f"Unknown implementation {name!r} for backend {self.name!r}. "
                             f"Accepted: {', '.join(found)}")
        return found[name]

    def default_implementation(self, device: str, spec: ModelSpec | None = None) -> str:
        """The implementation ``build`` uses on ``device`` when none is chosen.

        The base rule: the first implementation that runs on the device's
        kind and, for a backend that trains, trains (a run's training cases
        take the default). A backend with a rule by spec (hidden size, cell)
        overrides this; ``spec=None`` then gives its choice when nothing is
        known of the network, and ``default_rule`` says the whole rule in words.
        """
        for implementation in self.implementations():
            if implementation.runs_on(device) and (implementation.trains or not self.trains):
                return implementation.name
        kinds = sorted({kind for i in self.implementations() for kind in i.devices})
        raise UsageError(f"No implementation of backend {self.name!r} runs on {device!r}. "
                         f"Accepted: devices of kind {', '.join(kinds) or 'none'}")

    def default_rule(self, device: str) -> str:
        """The default on ``device``'s kind in words, e.g. "xla when hidden_size <= 64, else graph"."""
        return self.default_implementation(device)

    def use_implementation(self, name: str | None) -> None:
        """Choose the implementation the next ``build`` uses; None goes back to the default."""
        if name is not None:
            self.implementation(name)  # UsageError for an unknown name
        self._implementation = name

    def implementation_for(self, device: str, spec: ModelSpec | None = None) -> str:
        """The implementation chosen with ``use_implementation``, else ``default_implementation(device, spec)``."""
        if self._implementation is None:
            return self.default_implementation(device, spec)
        return self._implementation

    def trains_with(self, implementation: str | None, device: str = "cpu", spec: ModelSpec | None = None) -> bool:
        """Whether the models of ``implementation`` (None: the default on ``device`` for ``spec``) train: the
        backend trains and the implementation is not an export path (``Implementation.trains``)."""
        if not self.trains:
            return False
        return self.implementation(implementation or self.default_implementation(device, spec)).trains

    def implementation_record(self, device: str, spec: ModelSpec) -> dict[str, Any] | None:
        """What a record says of the implementation ``build`` will use: its name and whether it is the default;
        None where none runs on the device (``build`` then fails with its own message, naming the device)."""
        try:
            name = self.checked_implementation(device, spec)
        except UsageError:
            return None
        return {"name": name, "default": name == self.default_implementation(device, spec)}

    def checked_implementation(self, device: str, spec: ModelSpec | None = None) -> str:
        """``implementation_for``, checked to run on ``device`` (and ``spec``'s precision): what ``build`` uses."""
        if spec is not None:
            self.check_precision(spec, device)
        name = self.implementation_for(device, spec)
        if not self.implementation(name).runs_on(device):
            here = [i.name for i in self.implementations() if i.runs_on(device)]
            raise UsageError(f"Implementation {name!r} of backend {self.name!r} does not run on {device!r}. "
                             f"Accepted there: {', '.join(here) or 'none'}")
        return name
