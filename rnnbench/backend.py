"""The interface every backend plugin implements, and the index of the whole contract.

A ``Backend`` is cheap to construct and never imports its framework until
``build`` (or ``devices``/``configure``) is called, so listing plugins stays
instant and works where the framework is missing. ``build`` returns a
``Model`` that owns the framework objects for one ModelSpec on one device.

What a backend must satisfy, and where each part is written down:

==========================  ==================================================
the methods                 ``Backend`` and ``Model`` below
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
==========================  ==================================================

Device names are one vocabulary for users and backends alike: ``cpu``, and
``gpu:N`` for the N-th GPU the framework sees. ``devices()`` lists them and
``build(device=...)`` accepts them; a backend maps them to its framework's
own names (torch's ``cuda:N``, jax's and TensorFlow's GPU devices). Users
may also write ``gpu`` (each backend's first GPU) or ``all`` in a run, and
PyTorch's spelling ``cuda:N``, which ``canonical_device`` turns into ``gpu:N``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from rnnbench.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from rnnbench.params import Params
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
    tf32: bool = False  # allow TensorFloat-32 matmuls on GPUs that have them; off keeps float32 exact

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise UsageError(f"threads={self.threads!r} is not valid. Accepted: an integer >= 1")


@dataclass(frozen=True)
class RuntimeInfo:
    """What actually ran, recorded with every result."""

    kernel_path: str  # e.g. "numpy: BLAS matmul + hand-written BPTT"
    settings: dict[str, str] = field(default_factory=dict)  # threads, denormals, XLA ...


class Model(ABC):
    """One network on one device, built by ``Backend.build``.

    ``x`` and ``y`` are NumPy arrays in the batch-first layout of ModelSpec.
    """

    @abstractmethod
    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One optimiser step. May return before the device finishes."""

    @abstractmethod
    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        """The loss and its gradient in the canonical layout; no update."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """The head's output (logits or values) as a NumPy array."""

    @abstractmethod
    def get_params(self) -> Params:
        """A copy of the current parameters in the canonical layout."""

    @abstractmethod
    def set_params(self, params: Params) -> None:
        """Load canonical parameters and reset the optimiser state."""

    def synchronize(self) -> None:  # noqa: B027 - a deliberate no-op default (host backends)
        """Wait until all queued device work is done (a no-op on the host)."""

    def last_loss(self) -> float | None:
        """The loss of the latest ``train_step`` (read back now, so not in a timed region)."""
        return None

    def device_memory(self) -> MemoryStats | None:
        """The framework's device-memory peak, or None off a GPU."""
        return None

    @abstractmethod
    def runtime_info(self) -> RuntimeInfo:
        """The kernel path and settings this model runs with."""


CUDA_PREFIX = "cuda:"  # PyTorch's spelling of a GPU, accepted from users as gpu:N


def canonical_device(name: str) -> str:
    """A user's device name in the contract's vocabulary: ``cuda:N`` becomes ``gpu:N``, the rest is kept."""
    text = name.strip().lower()
    return "gpu:" + text.removeprefix(CUDA_PREFIX) if text.startswith(CUDA_PREFIX) else text


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
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64")  # parameter dtypes build accepts

    def available(self) -> Availability:
        """Ok when every required module can be found; nothing is imported."""
        return modules_availability(self.requires, self.install_hint)

    def versions(self) -> dict[str, str]:
        """Installed versions of the framework, read from package metadata."""
        return installed_versions(() if self.framework is None else (self.framework,))

    def devices(self) -> list[str]:
        """Devices this backend can place a model on, "cpu" first, then "gpu:0", "gpu:1", ..."""
        return ["cpu"]

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        """Apply ``settings`` through the framework's own working mechanism.

        Called once per worker process, before the first ``build``. Returns
        what was applied, as strings, for the result record.
        """
        return {"threads": str(settings.threads), "flush_denormals": str(settings.flush_denormals)}

    @abstractmethod
    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu") -> Model:
        """A model computing ``spec`` from ``params``, trained by ``optimizer``."""
