"""The plugin manager factory: built-ins by dotted name, then entry points.

Nothing is registered at import time; ``make_plugin_manager`` builds a fresh
manager each call (tests get one per test).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass

import pluggy

from rnnbench import hookspecs
from rnnbench.errors import PluginError
from rnnbench.plugins.guard import BLOCK_ENV, describe_exception, plugin_line

ENTRY_POINT_GROUP = "rnnbench"
# Set to 1/true/yes to load only the built-in plugins (like PYTEST_DISABLE_PLUGIN_AUTOLOAD).
DISABLE_AUTOLOAD_ENV = "RNNBENCH_DISABLE_PLUGIN_AUTOLOAD"
# BLOCK_ENV (rnnbench.plugins.guard): comma-separated plugin names to block, entry-point or built-in dotted names.

BUILTIN_PLUGINS: tuple[str, ...] = (
    "rnnbench.backends.numpy_backend",
    "rnnbench.backends.torch_backend",
    "rnnbench.backends.tensorflow_backend",
    "rnnbench.backends.jax_backend",
    "rnnbench.backends.onnxruntime_backend",
    "rnnbench.backends.openvino_backend",
    "rnnbench.tasks.char_rnn",
    "rnnbench.tasks.imdb",
    "rnnbench.tasks.forecasting",
    "rnnbench.tasks.airline",
    "rnnbench.report.break_even",  # a report section through the hook, as a plugin adds one
)


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from, for `rnnbench plugins`."""

    plugin: str  # the name it is registered (and blocked) under
    distribution: str | None = None  # None for a built-in
    version: str | None = None

    def describe(self) -> str:
        if self.distribution is None:
            return "built-in"
        return f"{self.distribution} {self.version}"


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers each plugin's origin, and the third-party plugins that failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, Origin] = {}
        self.faults: dict[str, str] = {}  # plugin name -> one line: why it is not loaded, how to block it

    def origin_of(self, plugin_name: str) -> Origin:
        return self.origins.get(plugin_name, Origin(plugin_name, "registered at run time", ""))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _blocked_from_env() -> list[str]:
    return [name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()]


def make_plugin_manager(
    *,
    block: Iterable[str] = (),
    load_entry_points: bool | None = None,
    builtins: Iterable[str] = BUILTIN_PLUGINS,
) -> PluginManager:
    """Build and validate a fresh plugin manager.

    ``block`` adds to the names in ``RNNBENCH_BLOCK_PLUGINS``;
    ``load_entry_points`` defaults to on unless
    ``RNNBENCH_DISABLE_PLUGIN_AUTOLOAD`` is set. A third-party plugin that
    fails to import (``sys.exit`` included), to register or implements an
    unknown hook is left out and kept in ``pm.faults`` (one line naming it
    and how to block it); the others load. A built-in that fails is a bug
    and raises.
    """
    pm = PluginManager()
    for name in [*_blocked_from_env(), *block]:
        pm.set_blocked(name)
    for dotted in builtins:
        _register_builtin(pm, dotted)
    if load_entry_points is None:
        load_entry_points = not _truthy(os.environ.get(DISABLE_AUTOLOAD_ENV))
    if load_entry_points:
        _register_entry_points(pm)
    _check_pending(pm)
    return pm


def _register(pm: PluginManager, plugin: object, origin: Origin) -> None:
    try:
        pm.register(plugin, name=origin.plugin)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginError(f"Plugin {origin.plugin!r} ({origin.describe()}) could not be registered: {exc}") from exc
    pm.origins[origin.plugin] = origin


def _register_builtin(pm: PluginManager, dotted: str) -> None:
    if pm.is_blocked(dotted):
        return
    _register(pm, importlib.import_module(dotted), Origin(dotted))


def _register_entry_points(pm: PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        dist = ep.dist
        origin = Origin(ep.name, dist.name if dist else ep.value, dist.version if dist else "")
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as exc:  # any import-time failure of third-party code, sys.exit included
            _fault(pm, origin, f"failed to import: {describe_exception(exc)}")
            continue
        try:
            _register(pm, plugin, origin)
        except PluginError as exc:
            _fault(pm, origin, f"could not be registered: {exc.__cause__}")


def _fault(pm: PluginManager, origin: Origin, what: str) -> None:
    """Leave the third-party plugin ``origin`` out, with one line saying ``what`` went wrong and how to block it."""
    pm.faults[origin.plugin] = plugin_line(origin, what)
    pm.origins[origin.plugin] = origin


def _check_pending(pm: PluginManager) -> None:
    """A third-party plugin implementing an unknown hook (a misspelling) is left out as a fault; a built-in raises."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            known = ", ".join(sorted(h for h in dir(hookspecs) if h.startswith("rnnbench_")))
            what = f"implements an unknown hook: {exc}. Known hooks: {known}"
            if name not in pm.origins or pm.origins[name].distribution is None:
                raise PluginError(f"Plugin {name!r} ({pm.origin_of(name).describe()}) {what}") from exc
            pm.unregister(exc.plugin)
            _fault(pm, pm.origins[name], what)
