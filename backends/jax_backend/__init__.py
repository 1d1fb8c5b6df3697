"""The jax backend plugin: ``lax.scan`` cells under ``jax.jit``, optax optimisers.

Importing this module imports neither jax nor optax; they are imported on
the first ``devices``, ``configure`` or ``build`` call. Before that first
import the backend sets ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (unless the
user set it) so the GPU allocator grows on demand and device-memory figures
mean what the model used, not XLA's 75 % up-front reservation.

Process-wide effects, recorded in every model's runtime settings:

- float64: building a float64 model calls
  ``jax.config.update("jax_enable_x64", True)``, which lasts for the rest of
  the process (JAX has no per-array switch). float32 models built later
  still compute in float32: their parameters and inputs are cast explicitly.
- threads: XLA:CPU ignores thread variables and flags; only the CPU
  affinity of the process, which the core sets for every worker, limits it.
- denormals: XLA:CPU always flushes them to zero; XLA:GPU keeps them unless
  ``--xla_gpu_ftz=true`` is in ``XLA_FLAGS`` before jax is imported, which
  ``configure`` adds when flushing is requested and jax is not imported yet.

Three implementations differ only in how each layer is stepped (net.py's
``Loop``): "scan" (input projection inside each step, the CPU default),
"hoisted" (one input matmul for all steps before the scan, the GPU
default) and "unroll" (per-step projection, ``UNROLL`` steps per scan
iteration). A fourth, "exported" (listed last, CPU only, inference only:
``Implementation.trains`` False), is the "scan" network's predict and
streaming step shipped as ``jax.export`` artifacts, serialised to bytes and
deserialised before they compute (export.py); it builds an
``InferenceModel`` in float32 or float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rnnbench import hookimpl
from rnnbench.backend import (
    Backend,
    Implementation,
    InferenceModel,
    ParitySettings,
    RuntimeInfo,
    device_kind,
    installed_versions,
)
from rnnbench.errors import UsageError
from rnnbench.spec import LOSS_SCALING

from . import runtime

if TYPE_CHECKING:
    from rnnbench.params import Params
    from rnnbench.spec import ModelSpec, OptimizerSpec

    from .net import Loop

# Distributions whose versions describe a JAX install; the CUDA ones only where installed.
DISTRIBUTIONS = ("jax", "jaxlib", "optax", "jax-cuda12-plugin", "jax-cuda12-pjrt",
                 "jax-cuda13-plugin", "jax-cuda13-pjrt")

UNROLL = 8  # lax.scan's unroll in the "unroll" implementation
EXPORTED = "exported"  # the export path (export.py), which does not train

IMPLEMENTATIONS = (
    Implementation("scan", "lax.scan over the steps, the input projection x_t @ W_ih inside each step"),
    Implementation("hoisted", "one matmul for every step's input projection before lax.scan, which then does "
                   "only h @ W_hh and the gates (the cuDNN recipe)"),
    Implementation("unroll", f"lax.scan(unroll={UNROLL}): {UNROLL} steps per loop iteration for XLA to fuse, "
                   "the input projection inside each step"),
    Implementation(EXPORTED, "the scan network's predict and step exported with jax.export "
                   "(symbolic batch and time), serialised to bytes, deserialised and called", ("cpu",),
                   trains=False),
)
# What each implementation asks of net.py's Loop: (hoist, unroll).
LOOPS: dict[str, tuple[bool, int]] = {"scan": (False, 1), "hoisted": (True, 1), "unroll": (False, UNROLL)}


class JaxBackend(Backend):
    name = "jax"
    description = "JAX lax.scan under jit with value_and_grad, optax optimisers"
    requires = ("jax", "optax")
    framework = "jax"
    install_hint = 'pip install "rnnbench[jax]"'
    # mixed_bfloat16: the parameters cast to bfloat16 inside the jitted loss (net.forward's ``compute``)
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64", "mixed_bfloat16", "mixed_float16",
                                         "tf32")  # tf32: GPUs only

    def __init__(self) -> None:
        self._settings: dict[str, str] = {}

    def implementations(self) -> tuple[Implementation, ...]:
        return IMPLEMENTATIONS

    def default_implementation(self, device: str, spec: ModelSpec | None = None) -> str:
        """"hoisted" on GPUs, "scan" on the CPU, where hoisting measured slower (see net.py)."""
        return "hoisted" if device_kind(device) == "gpu" else "scan"

    def versions(self) -> dict[str, str]:
        return installed_versions(DISTRIBUTIONS)

    def devices(self) -> list[str]:
        return ["cpu"] + [f"gpu:{i}" for i in range(len(runtime.gpus(runtime.import_jax())))]

    def flushes_denormals(self, device: str) -> bool:
        return device.startswith("gpu")  # XLA:CPU always flushes; XLA:GPU through --xla_gpu_ftz

    def configure(self, settings: ParitySettings) -> dict[str, str]:
        ftz_gpu = runtime.request_gpu_ftz(settings.flush_denormals)
        runtime.import_jax()
        self._settings = {
            "threads": str(settings.threads),
            "threads_mechanism": "CPU affinity (set by the core); XLA:CPU ignores thread variables and flags",
            "cpu_affinity": runtime.cpu_affinity(),
            "flush_denormals_requested": str(settings.flush_denormals),
            "flush_denormals_cpu": "always (XLA:CPU flushes denormals to zero; not configurable)",
            "flush_denormals_gpu": ftz_gpu,
            "xla": "on (jax.jit of the whole train step)",
            "fused_kernel": "none: lax.scan over a pure cell function (no cuDNN/oneDNN RNN kernel)",
            runtime.PREALLOCATE_ENV: runtime.preallocate_setting(),
        }
        return dict(self._settings)

    def resolve_device(self, device: str) -> Any:
        """The jax Device called ``device`` ("cpu", "gpu:0", ...); UsageError if unknown."""
        jax = runtime.import_jax()
        if device == "cpu":
            return jax.devices("cpu")[0]
        gpus = runtime.gpus(jax)
        index = device.removeprefix("gpu:")
        if device.startswith("gpu:") and index.isdigit() and int(index) < len(gpus):
            return gpus[int(index)]
        accepted = ", ".join(self.devices())
        raise UsageError(f"Unknown device {device!r} for backend 'jax'. Accepted: {accepted}")

    def build(self, spec: ModelSpec, params: Params, optimizer: OptimizerSpec, device: str = "cpu"
              ) -> InferenceModel:
        jax = runtime.import_jax()
        if spec.dtype == "float64":
            jax.config.update("jax_enable_x64", True)  # process-wide and permanent; see the module docstring
        jax_device = self.resolve_device(device)
        implementation = self.checked_implementation(device, spec)
        if implementation == EXPORTED:
            return self._build_exported(jax, jax_device, spec, params)
        from .model import JaxModel
        from .net import Loop

        loop = Loop(*LOOPS[implementation])
        info = self._runtime_info(jax, jax_device, implementation, loop, spec)
        return JaxModel(spec, params, optimizer, jax_device, loop, info)

    def _build_exported(self, jax: Any, device: Any, spec: ModelSpec, params: Params) -> InferenceModel:
        if spec.autocast is not None:
            raise UsageError(f"Implementation {EXPORTED!r} of backend 'jax' does not compute {spec.precision}. "
                             "Accepted: float32, float64")
        from .export import ExportedModel

        settings = dict(self._settings) or {"configure": "not called: framework defaults"}
        settings |= {
            "implementation": EXPORTED,
            "device": f"{device.platform}:{device.id}",
            "xla": "the deserialised StableHLO, compiled by jax.jit(Exported.call) once per input shape",
            "input_projection": "per step, inside the scanned cell (the scan network)",
            "jax_enable_x64": str(jax.config.jax_enable_x64),
            "matmul_precision": "highest (true float32 products)",
        }
        return ExportedModel(spec, params, device, settings)

    def _runtime_info(self, jax: Any, device: Any, implementation: str, loop: Loop, spec: ModelSpec) -> RuntimeInfo:
        from .model import donates

        platform = "XLA GPU" if device.platform == "gpu" else f"XLA {device.platform.upper()}"
        kind = f" ({device.device_kind})" if device.platform != "cpu" else ""
        projection = "input projection hoisted" if loop.hoist else "input projection per step"
        if loop.unroll != 1:
            projection += f", unroll {loop.unroll}"
        settings = dict(self._settings) or {"configure": "not called: framework defaults"}
        settings |= {
            "implementation": implementation,
            "device": f"{device.platform}:{device.id}{kind}",
            "input_projection": ("hoisted: one matmul for all steps before the scan" if loop.hoist
                                 else "per step, inside the scanned cell"),
            "jax_enable_x64": str(jax.config.jax_enable_x64),
            "matmul_precision": ("tensorfloat32 (TF32 products on GPUs that have them)" if spec.tf32
                                 else "highest (true float32 products; no TF32 on GPUs)"),
            "donation": ("params and optimiser state donated to the jitted train step" if donates(device.platform)
                         else "none on the CPU (XLA:CPU's step was slower with it)"),
            "scan_unroll": str(loop.unroll),
            "autocast": "none" if spec.autocast is None else
                        f"parameters cast to {spec.autocast} in the jitted loss, float32 tree and optimiser",
            "loss_scaling": "none" if spec.autocast != "float16" else (
                f"dynamic in the jitted step (init {LOSS_SCALING.initial:g}, x{LOSS_SCALING.growth:g} every "
                f"{LOSS_SCALING.interval} finite steps, x{LOSS_SCALING.backoff:g} and the step skipped on inf/NaN)"),
        }
        return RuntimeInfo(f"jax jit + lax.scan ({projection}), {platform}{kind}", settings)


@hookimpl
def rnnbench_register_backends() -> list[type[Backend]]:
    return [JaxBackend]
